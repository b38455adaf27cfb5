package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/examflow/examflow/policy"
)

func runRecord(_ context.Context, args []string) error {
	return recordOfProcessing(args, os.Stdout)
}

// recordOfProcessing prints the record of processing (T11) generated from
// the policy package, or writes it to the file --write names.
func recordOfProcessing(args []string, stdout io.Writer) error {
	fs := newFlags("record-of-processing", `Print the record of processing (GDPR Article 30) of both processes, generated from the policy
tables in code: personal data, purposes, sources, recipients with their legal basis, data processors,
storage location and retention. With --write, write it to a file instead (docs/record-of-processing.md,
which a test keeps equal to the code).`, "")
	write := fs.String("write", "", "write the Markdown to this file instead of standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	doc := policy.RecordOfProcessing()
	if *write == "" {
		if _, err := io.WriteString(stdout, doc); err != nil {
			return fmt.Errorf("print the record: %w", err)
		}
		return nil
	}
	if err := os.WriteFile(*write, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("write the record: %w", err)
	}
	return nil
}
