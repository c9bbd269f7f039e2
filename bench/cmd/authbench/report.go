package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
)

// cmdReport prints the markdown tables of compare, scale, coldstart and
// attack JSON files.
func cmdReport(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("report: name one or more JSON files")
	}
	for _, path := range fs.Args() {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var kind struct{ Kind string }
		if err := json.Unmarshal(b, &kind); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var text string
		switch kind.Kind {
		case "compare":
			text, err = render(b, compareMarkdown)
		case "scale":
			text, err = render(b, scaleMarkdown)
		case "coldstart":
			text, err = render(b, coldstartMarkdown)
		case "history":
			text, err = render(b, historyText)
		case "attack":
			text, err = render(b, attackMarkdown)
		default:
			return fmt.Errorf("%s: unknown kind %q", path, kind.Kind)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Println(text)
	}
	return nil
}

// render decodes a report of type R from b and writes it as text.
func render[R any](b []byte, text func(*R) string) (string, error) {
	var r R
	err := json.Unmarshal(b, &r)
	return text(&r), err
}
