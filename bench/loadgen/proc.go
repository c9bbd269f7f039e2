package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// ProcessCPU returns the user plus system CPU time process pid has used,
// from /proc/<pid>/stat (10 ms resolution).
func ProcessCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces; the fields
	// after it start with the state (field 3), so utime (14) and stime
	// (15) are the 12th and 13th after the ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// ProcessRSS returns the resident set size of process pid in bytes, from
// /proc/<pid>/status.
func ProcessRSS(pid int) (uint64, error) {
	return procKiB(pid, "status", "VmRSS")
}

// procKiB reads the field of /proc/<pid>/<file> that counts kB, in bytes.
func procKiB(pid int, file, field string) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + file)
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
			if f := bytes.Fields(rest); len(f) >= 1 {
				kb, err := strconv.ParseUint(string(f[0]), 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/%s: no %s", pid, file, field)
}

// processesCPU adds up the CPU time of the processes pids and their
// descendants (TreeCPU).
func processesCPU(pids []int) (time.Duration, error) {
	var sum time.Duration
	for _, pid := range pids {
		d, err := TreeCPU(pid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// procStat reads pid's parent, its own CPU time and that of its children
// it has waited for (utime, stime, cutime, cstime).
func procStat(pid int) (ppid int, self, reaped time.Duration, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 15 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var v [5]uint64
	for k, idx := range []int{1, 11, 12, 13, 14} { // ppid, utime, stime, cutime, cstime
		if v[k], err = strconv.ParseUint(string(f[idx]), 10, 64); err != nil {
			return 0, 0, 0, fmt.Errorf("/proc/%d/stat: bad field %d", pid, idx)
		}
	}
	tick := time.Second / clockTicks
	return int(v[0]), time.Duration(v[1]+v[2]) * tick, time.Duration(v[3]+v[4]) * tick, nil
}

// Descendants returns the pids of root's live descendants (children,
// grandchildren, …), from the parent field of every /proc/<pid>/stat.
func Descendants(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, _, err := procStat(pid); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// TreeCPU returns the user plus system CPU time of process root and of
// all its descendants, live or exited: every live process's own time plus
// the time of the children it has reaped (a database server's per-connection
// processes count, whether still running or gone).
func TreeCPU(root int) (time.Duration, error) {
	_, self, reaped, err := procStat(root)
	if err != nil {
		return 0, err
	}
	sum := self + reaped
	for _, pid := range Descendants(root) {
		if _, s, r, err := procStat(pid); err == nil { // it may have exited since
			sum += s + r
		}
	}
	return sum, nil
}

// TreeMemory returns the proportional set size (PSS, from
// /proc/<pid>/smaps_rollup) of process root and its live descendants,
// added up: the resident memory of a server made of several processes,
// with the pages they share (a database's shared buffers) counted once.
// Where smaps_rollup cannot be read it falls back to VmRSS.
func TreeMemory(root int) (uint64, error) {
	var sum uint64
	for i, pid := range append([]int{root}, Descendants(root)...) {
		n, err := processPSS(pid)
		if err != nil {
			n, err = ProcessRSS(pid)
		}
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue // exited meanwhile
		}
		sum += n
	}
	return sum, nil
}

func processPSS(pid int) (uint64, error) {
	return procKiB(pid, "smaps_rollup", "Pss")
}
