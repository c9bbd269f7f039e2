package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// bulkCommands move a tenant's facts in and out as JSON lines.
var bulkCommands = []command{
	{words: "import", args: "[-replace] [file|-]", nargs: -1, help: "JSON lines, as export writes them (default: stdin); -replace makes the tenant exactly those facts", run: (*cli).importFacts},
	{words: "export", args: "[file|-]", nargs: -1, help: "JSON lines (default: stdout)", run: (*cli).export},
}

func (x *cli) importFacts(args []string) (int, error) {
	imp := x.c.Import
	if len(args) > 0 && args[0] == "-replace" {
		imp, args = x.c.ImportReplace, args[1:]
	}
	if len(args) > 1 {
		return 0, errArgs
	}
	var r io.Reader = x.stdin
	if len(args) == 1 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return 0, err
		}
		defer f.Close()
		r = f
	}
	im, err := imp(x.ctx, r)
	if err != nil {
		return 0, err
	}
	incl := ""
	if im.Inclusions > 0 {
		incl = fmt.Sprintf(", %d inclusions", im.Inclusions)
	}
	return x.print(im, fmt.Sprintf("imported %d roles, %d grants, %d memberships%s (seq %d)", im.Roles, im.Permissions, im.Memberships, incl, im.Seq))
}

func (x *cli) export(args []string) (int, error) {
	if len(args) > 1 {
		return 0, errArgs
	}
	if len(args) == 0 || args[0] == "-" {
		_, err := x.c.Export(x.ctx, x.stdout, x.read...)
		return exitOK, err
	}
	// Write beside the file, then rename: a failed export leaves no
	// truncated file behind.
	path := args[0]
	tmp, err := os.CreateTemp(dirOf(path), ".authctl-export-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	seq, err := x.c.Export(x.ctx, tmp, x.read...)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, err
	}
	return x.print(map[string]uint64{"seq": seq}, fmt.Sprintf("exported to %s (seq %d)", path, seq))
}

func dirOf(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[:i+1]
	}
	return "."
}
