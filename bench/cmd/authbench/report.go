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
			var r CompareReport
			err = json.Unmarshal(b, &r)
			text = compareMarkdown(&r)
		case "scale":
			var r ScaleReport
			err = json.Unmarshal(b, &r)
			text = scaleMarkdown(&r)
		case "coldstart":
			var r ColdstartReport
			err = json.Unmarshal(b, &r)
			text = coldstartMarkdown(&r)
		case "history":
			var r HistoryReport
			err = json.Unmarshal(b, &r)
			text = historyText(&r)
		case "attack":
			var r AttackReport
			err = json.Unmarshal(b, &r)
			text = attackMarkdown(&r)
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
