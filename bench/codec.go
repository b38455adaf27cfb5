package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/examflow/examflow/cases"
)

// codecResult is figure 5: the CPU time and memory examflow's data
// converter (JSON, then AES-256-GCM under the current payload key) spends on
// one Update payload, encoded and decoded again, against the Temporal SDK's
// default data converter (JSON only), measured with testing.Benchmark in
// pairs of rounds.
type codecResult struct {
	// Bytes and SealedBytes are the payload's size in JSON and encrypted.
	Bytes, SealedBytes int
	// ExamflowRounds and BaselineRounds are each pair's results.
	ExamflowRounds, BaselineRounds []testing.BenchmarkResult
}

// codecSheet is a citizenship answer sheet of 36 answers, the largest
// Update payload of a test day.
func codecSheet() cases.AnswerSheet {
	s := cases.AnswerSheet{Part: "test", FormID: "citizenship-test-bench-2026-11-23", KeyVersion: 1,
		SubmittedAt: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	for i := range 36 {
		s.Answers = append(s.Answers, cases.AnswerItem{Item: fmt.Sprintf("q%02d", i+1), Choice: "a"})
	}
	return s
}

// roundTrip benchmarks encoding the sheet with dc and decoding it back.
func roundTrip(dc converter.DataConverter, sheet cases.AnswerSheet) (testing.BenchmarkResult, error) {
	var failed error
	res := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := dc.ToPayloads(sheet)
			if err != nil {
				failed = err
				b.FailNow()
			}
			var back cases.AnswerSheet
			if err := dc.FromPayloads(p, &back); err != nil {
				failed = err
				b.FailNow()
			}
		}
	})
	return res, failed
}

// payloadCodec measures figure 5 in o.Pairs pairs of rounds, the first of
// each pair alternating, as figures 1 and 2 are.
func (b *bench) payloadCodec() (codecResult, error) {
	examflow, baseline := b.process.Codec.DataConverter(), converter.GetDefaultDataConverter()
	sheet := codecSheet()
	var r codecResult
	plain, err := baseline.ToPayloads(sheet)
	if err != nil {
		return r, err
	}
	sealed, err := examflow.ToPayloads(sheet)
	if err != nil {
		return r, err
	}
	r.Bytes, r.SealedBytes = len(plain.GetPayloads()[0].GetData()), len(sealed.GetPayloads()[0].GetData())
	for i := range b.opts.Pairs {
		var e, base testing.BenchmarkResult
		var errE, errB error
		if i%2 == 0 {
			base, errB = roundTrip(baseline, sheet)
			e, errE = roundTrip(examflow, sheet)
		} else {
			e, errE = roundTrip(examflow, sheet)
			base, errB = roundTrip(baseline, sheet)
		}
		if errE != nil || errB != nil {
			return r, fmt.Errorf("payload round trip: %w", errors.Join(errE, errB))
		}
		r.ExamflowRounds = append(r.ExamflowRounds, e)
		r.BaselineRounds = append(r.BaselineRounds, base)
	}
	return r, nil
}
