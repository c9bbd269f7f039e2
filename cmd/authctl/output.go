package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"

	"auth/client"
)

// print prints v as JSON, or human as text.
func (x *cli) print(v any, human string) (int, error) {
	if x.json {
		return exitOK, x.printJSON(v)
	}
	_, err := fmt.Fprintln(x.stdout, human)
	return exitOK, err
}

func (x *cli) printJSON(v any) error {
	enc := json.NewEncoder(x.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// write prints a write's answer; a false answer exits with falseCode.
func (x *cli) write(w client.Write, err error, falseCode int, yes, no string, names ...any) (int, error) {
	if err != nil {
		return 0, err
	}
	msg, code := yes, exitOK
	if !w.Result {
		msg, code = no, falseCode
	}
	if _, err := x.print(w, fmt.Sprintf(msg, quoteAll(names)...)+fmt.Sprintf(" (seq %d)", w.Seq)); err != nil {
		return 0, err
	}
	return code, nil
}

// answer prints yes or no and exits 0 or 1.
func (x *cli) answer(a client.Answer, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	human := "no"
	if a.Result {
		human = "yes"
	}
	if _, err := x.print(a, human); err != nil {
		return 0, err
	}
	if !a.Result {
		return exitNo, nil
	}
	return exitOK, nil
}

// list prints names one a line.
func (x *cli) list(l client.List, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	if x.json {
		return exitOK, x.printJSON(l)
	}
	w := bufio.NewWriter(x.stdout)
	for _, n := range l.Names {
		w.WriteString(n)
		w.WriteByte('\n')
	}
	return exitOK, w.Flush()
}

// quoteAll quotes names that would be ambiguous in a message.
func quoteAll(names []any) []any {
	out := make([]any, len(names))
	for i, n := range names {
		s := n.(string)
		if s == "" || strings.ContainsAny(s, " \t\"'\\") {
			out[i] = fmt.Sprintf("%q", s)
		} else {
			out[i] = s
		}
	}
	return out
}
