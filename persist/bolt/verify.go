package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// verifyFile checks the structure of a bbolt file through plain reads,
// never through a memory map, so that no damage can fault it: both meta
// pages, and every page the newest meta reaches (branch and leaf pages,
// nested and inline buckets, a synced free list). It checks what bbolt
// takes for granted when it reads the file through its map: each page a
// branch or leaf page that names itself, every page id within the pages
// in use and the file, every key and value within its page, keys in
// order, and no page reached twice. bbolt reads a file with any of these
// wrong out of bounds (a fault Go cannot recover in bbolt's own
// goroutines) or panics on an assertion; a file that passes can be
// opened and read safely.
//
// It does not read values (checksums are for the records' readers) nor
// compare what is reachable with the free pages (bbolt's tx.Check does).

// The bbolt file format (version 2), as its internal/common package lays
// it out; fields are in the machine's byte order.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	elemSize       = 16 // branch and leaf page elements
	metaSize       = 56 // the meta fields before the checksum
	bucketHeader   = 16 // root page id, sequence

	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01

	noFreelist = ^uint64(0)
	maxDepth   = 64
)

var ne = binary.NativeEndian

// fileMeta is what a meta page holds.
type fileMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64 // pages in use: ids below it
	txid     uint64
}

// FileStats describes a data file whose structure holds.
type FileStats struct {
	Size     int64  // bytes
	PageSize int    // bytes
	InUse    uint64 // pages below the high water mark
	Reached  uint64 // pages reached from the newest meta page
	TxID     uint64 // the newest transaction
}

// parseMeta checks the meta page in b (a page of id want) and returns
// what it holds, or why it is not a valid meta page.
func parseMeta(b []byte, want uint64) (fileMeta, string) {
	if len(b) < pageHeaderSize+metaSize+8 {
		return fileMeta{}, "the file ends inside it"
	}
	m := b[pageHeaderSize:]
	if ne.Uint32(m[0:]) != boltMagic {
		return fileMeta{}, "its magic number is wrong (not a bbolt file, or the page is overwritten)"
	}
	if v := ne.Uint32(m[4:]); v != boltVersion {
		return fileMeta{}, fmt.Sprintf("bbolt format version %d, not %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:metaSize])
	if got, stored := h.Sum64(), ne.Uint64(m[metaSize:]); got != stored {
		return fileMeta{}, fmt.Sprintf("its checksum does not match (stored %016x, computed %016x)", stored, got)
	}
	if id, flags := ne.Uint64(b[0:]), ne.Uint16(b[8:]); id != want || flags != metaPageFlag {
		return fileMeta{}, fmt.Sprintf("its page header says page %d of flags %#x", id, flags)
	}
	return fileMeta{
		pageSize: ne.Uint32(m[8:]),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		hwm:      ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}, ""
}

// readMetas reads both meta pages; a damaged one is an error.
func readMetas(f io.ReaderAt, size int64) (fileMeta, error) {
	buf := make([]byte, 4096)
	n, _ := f.ReadAt(buf, 0)
	m0, bad0 := parseMeta(buf[:n], 0)
	var m1 fileMeta
	var bad1 string
	if bad0 == "" {
		n, _ = f.ReadAt(buf, int64(m0.pageSize))
		m1, bad1 = parseMeta(buf[:n], 1)
	} else {
		// The page size is in the meta pages: look for the second one
		// where each page size would put it, as bbolt does.
		bad1 = "not found at any page size"
		for ps := int64(1024); ps <= 1<<16 && ps < size; ps *= 2 {
			n, _ = f.ReadAt(buf, ps)
			if m, bad := parseMeta(buf[:n], 1); bad == "" && int64(m.pageSize) == ps {
				m1, bad1 = m, ""
				break
			}
		}
	}
	switch {
	case bad0 != "" && bad1 != "":
		return fileMeta{}, corruptf("meta pages", "neither is valid (page 0: %s; page 1: %s): not a bbolt file, or both its headers are overwritten", bad0, bad1)
	case bad0 != "":
		return fileMeta{}, corruptf("meta page 0", "%s (meta page 1 holds transaction %d)", bad0, m1.txid)
	case bad1 != "":
		return fileMeta{}, corruptf("meta page 1", "%s (meta page 0 holds transaction %d)", bad1, m0.txid)
	}
	if m0.pageSize != m1.pageSize {
		return fileMeta{}, corruptf("meta pages", "they disagree on the page size (%d, %d)", m0.pageSize, m1.pageSize)
	}
	m := m0
	if m1.txid > m0.txid {
		m = m1
	}
	if ps := m.pageSize; ps < 1024 || ps > 1<<16 || ps&(ps-1) != 0 {
		return fileMeta{}, corruptf("meta pages", "page size %d", ps)
	}
	if m.hwm < 3 || m.hwm > uint64(1)<<40 {
		return fileMeta{}, corruptf(fmt.Sprintf("meta page %d", m.txid%2), "%d pages in use", m.hwm)
	}
	if end := int64(m.hwm) * int64(m.pageSize); end > size {
		return fileMeta{}, corruptf("file", "it ends at byte %d, but its pages run to byte %d: the file is truncated (an incomplete copy?)", size, end)
	}
	return m, nil
}

// walker checks the pages of one file.
type walker struct {
	f        io.ReaderAt
	pageSize int
	hwm      uint64
	seen     []uint64 // bit per page
	reached  uint64
	bufs     [][]byte // a buffer per depth
}

func verifyFile(f *os.File) (FileStats, error) {
	fi, err := f.Stat()
	if err != nil {
		return FileStats{}, err
	}
	m, err := readMetas(f, fi.Size())
	if err != nil {
		return FileStats{}, err
	}
	w := &walker{f: f, pageSize: int(m.pageSize), hwm: m.hwm, seen: make([]uint64, (m.hwm+63)/64)}
	w.mark(0)
	w.mark(1)
	if m.freelist != noFreelist {
		if err := w.freelist(m.freelist); err != nil {
			return FileStats{}, err
		}
	}
	if err := w.bucket("", m.root, nil, 0); err != nil {
		return FileStats{}, err
	}
	return FileStats{Size: fi.Size(), PageSize: int(m.pageSize), InUse: m.hwm, Reached: w.reached + 2, TxID: m.txid}, nil
}

// mark records page id as reached, reporting whether it already was.
func (w *walker) mark(id uint64) bool {
	bit := uint64(1) << (id % 64)
	if w.seen[id/64]&bit != 0 {
		return true
	}
	w.seen[id/64] |= bit
	return false
}

// pg is a page being checked: its first page is read; the rest, its
// overflow pages, only where an element's header or key lies in them, so
// that a large value (a snapshot) is not read at all.
type pg struct {
	f   io.ReaderAt
	off int64  // its offset in the file (unused for an inline page)
	b   []byte // its first bytes: the first page, or a whole inline page
	n   int    // its length, overflow pages included
}

// elemHeaders returns the headers of the page's count elements, or an
// error if they do not fit in it.
func (p *pg) elemHeaders(where string, count uint64) ([]byte, error) {
	if pageHeaderSize+count*elemSize > uint64(p.n) {
		return nil, corruptf(where, "%d elements do not fit in it", count)
	}
	return p.at(pageHeaderSize, count*elemSize)
}

// at returns bytes [i, i+k) of the page, which must lie within its
// length; they may alias the page's buffer.
func (p *pg) at(i, k uint64) ([]byte, error) {
	if i+k <= uint64(len(p.b)) {
		return p.b[i : i+k], nil
	}
	buf := make([]byte, k)
	if _, err := p.f.ReadAt(buf, p.off+int64(i)); err != nil {
		return nil, fmt.Errorf("bolt: reading the page at %d: %w", p.off, err)
	}
	return buf, nil
}

// page reads the first page of page id into the buffer of depth, checks
// its header, and returns it.
func (w *walker) page(from string, id uint64, depth int, flags ...uint16) (*pg, error) {
	if id < 2 || id >= w.hwm {
		return nil, corruptf(from, "it points at page %d, outside the pages in use (2 to %d)", id, w.hwm-1)
	}
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, make([]byte, w.pageSize))
	}
	b := w.bufs[depth]
	off := int64(id) * int64(w.pageSize)
	if _, err := w.f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("bolt: reading page %d: %w", id, err)
	}
	where := fmt.Sprintf("page %d (reached from %s)", id, from)
	hid, hflags, overflow := ne.Uint64(b[0:]), ne.Uint16(b[8:]), uint64(ne.Uint32(b[12:]))
	if hid != id {
		return nil, corruptf(where, "its header says it is page %d", hid)
	}
	ok := false
	for _, f := range flags {
		ok = ok || hflags == f
	}
	if !ok {
		return nil, corruptf(where, "its header says it is a page of type %#x", hflags)
	}
	if id+overflow >= w.hwm {
		return nil, corruptf(where, "its %d overflow pages run past the pages in use (%d)", overflow, w.hwm)
	}
	for i := uint64(0); i <= overflow; i++ {
		if w.mark(id + i) {
			return nil, corruptf(where, "page %d is reached twice", id+i)
		}
		w.reached++
	}
	return &pg{f: w.f, off: off, b: b, n: int(overflow+1) * w.pageSize}, nil
}

func (w *walker) freelist(id uint64) error {
	p, err := w.page("the meta page's free list", id, 0, freelistPageFlag)
	if err != nil {
		return err
	}
	where := fmt.Sprintf("free list page %d", id)
	start, count := uint64(pageHeaderSize), uint64(ne.Uint16(p.b[10:]))
	if count == 0xffff {
		count, start = ne.Uint64(p.b[pageHeaderSize:]), pageHeaderSize+8
	}
	if count > uint64(p.n) || start+count*8 > uint64(p.n) {
		return corruptf(where, "%d ids do not fit in it", count)
	}
	ids, err := p.at(start, count*8)
	if err != nil {
		return err
	}
	for i := range count {
		if fid := ne.Uint64(ids[8*i:]); fid < 2 || fid >= w.hwm {
			return corruptf(where, "it lists page %d, outside the pages in use", fid)
		}
	}
	return nil
}

// bucket checks the bucket whose root is page root, or the inline page
// held in inline when root is 0. name is the bucket's key, quoted ("" for
// the root bucket).
func (w *walker) bucket(name string, root uint64, inline []byte, depth int) error {
	if name == "" {
		name = "the root bucket"
	} else {
		name = "bucket " + name
	}
	if depth > maxDepth {
		return corruptf(name, "buckets nested deeper than %d", maxDepth)
	}
	if root == 0 {
		if len(inline) < pageHeaderSize {
			return corruptf(name, "its inline page is %d bytes", len(inline))
		}
		if flags := ne.Uint16(inline[8:]); flags != leafPageFlag {
			return corruptf(name, "its inline page is of type %#x", flags)
		}
		return w.leaf(name+" (inline)", &pg{b: inline, n: len(inline)}, nil, nil, depth, true)
	}
	return w.node(name, name, root, nil, nil, depth, true)
}

// node checks the subtree of page id, whose keys must lie in [lo, hi) (nil:
// unbounded).
func (w *walker) node(bucket, from string, id uint64, lo, hi []byte, depth int, root bool) error {
	if depth > maxDepth {
		return corruptf(bucket, "a tree deeper than %d levels", maxDepth)
	}
	p, err := w.page(from, id, depth, branchPageFlag, leafPageFlag)
	if err != nil {
		return err
	}
	if ne.Uint16(p.b[8:]) == leafPageFlag {
		return w.leaf(fmt.Sprintf("%s: leaf page %d", bucket, id), p, lo, hi, depth, root)
	}
	where := fmt.Sprintf("%s: branch page %d", bucket, id)
	count := uint64(ne.Uint16(p.b[10:]))
	if count == 0 {
		return corruptf(where, "a branch page without elements")
	}
	hdrs, err := p.elemHeaders(where, count)
	if err != nil {
		return err
	}
	keys := make([][]byte, count)
	children := make([]uint64, count)
	for i := range count {
		h := hdrs[i*elemSize:]
		e := pageHeaderSize + i*elemSize
		pos, ksize := uint64(ne.Uint32(h)), uint64(ne.Uint32(h[4:]))
		if ksize == 0 || e+pos+ksize > uint64(p.n) {
			return corruptf(where, "element %d: its key (at %d, %d bytes) is not within the page", i, e+pos, ksize)
		}
		k, err := p.at(e+pos, ksize)
		if err != nil {
			return err
		}
		if err := inOrder(where, int(i), k, keys, lo, hi); err != nil {
			return err
		}
		keys[i] = bytes.Clone(k)
		children[i] = ne.Uint64(h[8:])
	}
	for i, child := range children {
		next := hi
		if i+1 < len(keys) {
			next = keys[i+1]
		}
		// The child's keys must lie in [keys[i], next).
		if err := w.node(bucket, fmt.Sprintf("%s element %d", where, i), child, keys[i], next, depth+1, false); err != nil {
			return err
		}
	}
	return nil
}

// inOrder checks key i of a page against the keys before it and the
// bounds the parent gives.
func inOrder(where string, i int, k []byte, before [][]byte, lo, hi []byte) error {
	if i > 0 && bytes.Compare(before[i-1], k) >= 0 {
		return corruptf(where, "element %d: keys out of order", i)
	}
	if i == 0 && lo != nil && bytes.Compare(k, lo) < 0 {
		return corruptf(where, "element 0: its key is below its parent's")
	}
	if hi != nil && bytes.Compare(k, hi) >= 0 {
		return corruptf(where, "element %d: its key is not below the next key of its parent", i)
	}
	return nil
}

// leaf checks the leaf page p, and the buckets its elements hold.
func (w *walker) leaf(where string, p *pg, lo, hi []byte, depth int, root bool) error {
	count := uint64(ne.Uint16(p.b[10:]))
	if count == 0 && !root {
		return corruptf(where, "a leaf page without elements below a branch page")
	}
	hdrs, err := p.elemHeaders(where, count)
	if err != nil {
		return err
	}
	keys := make([][]byte, count)
	type sub struct {
		name   string
		root   uint64
		inline []byte
	}
	var subs []sub
	for i := range count {
		h := hdrs[i*elemSize:]
		e := pageHeaderSize + i*elemSize
		flags := ne.Uint32(h)
		pos, ksize, vsize := uint64(ne.Uint32(h[4:])), uint64(ne.Uint32(h[8:])), uint64(ne.Uint32(h[12:]))
		if flags&^bucketLeafFlag != 0 {
			return corruptf(where, "element %d: flags %#x", i, flags)
		}
		if ksize == 0 || e+pos+ksize+vsize > uint64(p.n) {
			return corruptf(where, "element %d: its key and value (at %d, %d+%d bytes) are not within the page", i, e+pos, ksize, vsize)
		}
		k, err := p.at(e+pos, ksize)
		if err != nil {
			return err
		}
		if err := inOrder(where, int(i), k, keys, lo, hi); err != nil {
			return err
		}
		keys[i] = k
		if flags&bucketLeafFlag != 0 {
			if vsize < bucketHeader {
				return corruptf(where, "element %d: a bucket of %d bytes", i, vsize)
			}
			// A bucket's value is its header and, inline, its page: a
			// small one (bbolt inlines buckets of a quarter page at most).
			v, err := p.at(e+pos+ksize, vsize)
			if err != nil {
				return err
			}
			subs = append(subs, sub{fmt.Sprintf("%q", k), ne.Uint64(v), v[bucketHeader:]})
		}
	}
	for _, s := range subs {
		// An inline page lives in this page's buffer (or a copy), which
		// deeper pages do not reuse.
		if err := w.bucket(s.name, s.root, s.inline, depth+1); err != nil {
			return err
		}
	}
	return nil
}
