package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/examflow/examflow/policy"
)

func TestRecordOfProcessingCommand(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name      string
		args      []string
		wantOut   bool   // the record on standard output
		wantFile  string // the record in this file
		wantError bool
	}{
		{name: "prints", args: nil, wantOut: true},
		{name: "writes", args: []string{"--write", filepath.Join(dir, "record.md")}, wantFile: filepath.Join(dir, "record.md")},
		{name: "unwritable path", args: []string{"--write", filepath.Join(dir, "missing", "record.md")}, wantError: true},
		{name: "stray argument", args: []string{"docs/record-of-processing.md"}, wantError: true},
		{name: "unknown flag", args: []string{"--check"}, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := recordOfProcessing(tt.args, &out)
			if (err != nil) != tt.wantError {
				t.Fatalf("error = %v, want error %t", err, tt.wantError)
			}
			if got := out.String(); tt.wantOut != (got == policy.RecordOfProcessing()) {
				t.Errorf("standard output holds the record: %t, want %t", got == policy.RecordOfProcessing(), tt.wantOut)
			}
			if tt.wantFile != "" {
				b, err := os.ReadFile(tt.wantFile)
				if err != nil || string(b) != policy.RecordOfProcessing() {
					t.Errorf("written file differs from the record (%v)", err)
				}
				if out.Len() != 0 {
					t.Errorf("--write also printed %d bytes", out.Len())
				}
			}
		})
	}
	if err := recordOfProcessing([]string{"--help"}, &bytes.Buffer{}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v, want flag.ErrHelp", err)
	}
}
