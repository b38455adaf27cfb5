// Replay tests: every recorded history in testdata/histories replays
// against today's workflow code, so a change that is not deterministic
// for runs already open fails here (docs/workflow-versioning.md). This is
// the external test package: package worker, which holds the production
// registration and the payload codec, imports package workflows.
package workflows_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/process"
	"github.com/examflow/examflow/worker"
	"github.com/examflow/examflow/workflows"
)

const (
	historiesDir = "testdata/histories"
	// replayKeyID and replayKeyHex are the public test key the recorded
	// histories' payloads are encrypted with ("examflow public replay test
	// key!", the same as e2e/histories_test.go's history key). It is not a
	// secret and seals nothing but test histories of fictional people.
	replayKeyID  = "replay-test"
	replayKeyHex = "6578616d666c6f77207075626c6963207265706c61792074657374206b657921"
)

// registered is one workflow as the production worker registers it.
type registered struct {
	name string
	fn   any
}

// productionRegistry records the workflows and activities worker.Register
// registers. The embedded Registry is nil: Register calls none of the
// methods not overridden here.
type productionRegistry struct {
	sdkworker.Registry
	workflows []registered
	// activities are the names of the activities registered, as Temporal
	// names them.
	activities []string
}

func (p *productionRegistry) RegisterWorkflowWithOptions(fn any, o workflow.RegisterOptions) {
	p.workflows = append(p.workflows, registered{name: o.Name, fn: fn})
}

// RegisterActivity names a struct's activities as Temporal does: every
// exported method of the pointer, under the method's name.
func (p *productionRegistry) RegisterActivity(a any) {
	typ := reflect.TypeOf(a)
	if typ.Kind() != reflect.Pointer || typ.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("worker.Register registers %T: register structs, whose methods name the activities", a))
	}
	for i := range typ.NumMethod() {
		p.activities = append(p.activities, typ.Method(i).Name)
	}
}

func (p *productionRegistry) RegisterActivityWithOptions(_ any, o activity.RegisterOptions) {
	p.activities = append(p.activities, o.Name)
}

// productionWorkflows are the workflows under their production names,
// exactly as worker.Register registers them.
func productionWorkflows(t *testing.T) []registered {
	t.Helper()
	var p productionRegistry
	worker.Register(&p, worker.Deps{})
	if len(p.workflows) == 0 {
		t.Fatal("worker.Register registered no workflows")
	}
	return p.workflows
}

// newReplayer returns a replayer with the test key's codec and every
// production workflow, except that changed replaces the workflow of the
// same name. The codec's replay converter opens payloads bound to the
// recorded workflow, which the replayer runs under an ID of its own.
func newReplayer(t *testing.T, changed map[string]any) sdkworker.WorkflowReplayer {
	t.Helper()
	key, err := hex.DecodeString(replayKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := process.NewCodec(map[string][]byte{replayKeyID: key}, replayKeyID)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sdkworker.NewWorkflowReplayerWithOptions(sdkworker.WorkflowReplayerOptions{
		DataConverter: codec.ReplayDataConverter(), FailureConverter: codec.FailureConverter(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range productionWorkflows(t) {
		fn := w.fn
		if c, ok := changed[w.name]; ok {
			fn = c
		}
		r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: w.name})
	}
	return r
}

// testLogger sends the replayer's log (a non-determinism panic with its
// stack) to the test's log, shown when the test fails or runs with -v.
func testLogger(t *testing.T) tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// historyFiles are the recorded histories, including older versions kept
// in subfolders.
func historyFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(historiesDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no histories in %s: record them with `make histories`", historiesDir)
	}
	slices.Sort(files)
	return files
}

func loadHistory(t *testing.T, path string) *historypb.History {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(h.GetEvents()) == 0 {
		t.Fatalf("%s: no events", path)
	}
	return h
}

func workflowType(h *historypb.History) string {
	return h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
}

// TestReplayRecordedHistories replays every recorded history against the
// workflows as the worker registers them. A failure means a change to a
// workflow would break its open runs: guard it with workflow.GetVersion.
func TestReplayRecordedHistories(t *testing.T) {
	r := newReplayer(t, nil)
	for _, path := range historyFiles(t) {
		t.Run(strings.TrimPrefix(path, historiesDir+"/"), func(t *testing.T) {
			if err := r.ReplayWorkflowHistoryFromJSONFile(testLogger(t), path); err != nil {
				t.Fatalf("replay %s: %v", path, err)
			}
		})
	}
}

// TestRecordedHistoriesCoverEveryWorkflow: each workflow the worker
// registers has at least one history, and each file is named after the
// workflow type it holds (<WorkflowType>-<path>.json).
func TestRecordedHistoriesCoverEveryWorkflow(t *testing.T) {
	seen := map[string]int{}
	for _, path := range historyFiles(t) {
		typ := workflowType(loadHistory(t, path))
		if !strings.HasPrefix(filepath.Base(path), typ+"-") {
			t.Errorf("%s holds a %s history; name it %s-<path>.json", path, typ, typ)
		}
		seen[typ]++
	}
	for _, w := range productionWorkflows(t) {
		if seen[w.name] == 0 {
			t.Errorf("no recorded history of %s: record one (e2e/histories_test.go, make histories)", w.name)
		}
	}
}

// TestRecordedHistoriesHoldNoPlaintextPayloads: every payload but the
// search attributes (status values and codes only) is sealed with the
// public test key, so no committed history holds data in plaintext and
// none needs a real key to replay.
func TestRecordedHistoriesHoldNoPlaintextPayloads(t *testing.T) {
	for _, path := range historyFiles(t) {
		n := 0
		err := proxy.VisitPayloads(context.Background(), loadHistory(t, path), proxy.VisitPayloadsOptions{SkipSearchAttributes: true,
			Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
				for _, p := range ps {
					n++
					md := p.GetMetadata()
					if string(md["encoding"]) != "binary/encrypted" || string(md["encryption-key-id"]) != replayKeyID {
						return nil, errors.New("a payload is not sealed with the replay test key: encoding " + string(md["encoding"]) +
							", key " + string(md["encryption-key-id"]))
					}
				}
				return ps, nil
			}})
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
		if n == 0 {
			t.Errorf("%s: no payloads", path)
		}
	}
}

// TestReplayDetectsNonDeterministicChanges proves the replay test catches
// what it is for: a workflow changed without workflow.GetVersion, replayed
// against a history recorded before the change, fails; the same workflow
// unchanged (called through a wrapper registered the same way) replays.
func TestReplayDetectsNonDeterministicChanges(t *testing.T) {
	tests := []struct {
		name     string
		history  string
		workflow string
		changed  any
		wantErr  bool
	}{
		{
			name: "statistics unchanged", history: "MonthlyStatistics-month.json", workflow: cases.StatisticsWorkflow,
			changed: func(ctx workflow.Context, req cases.StatisticsRequest) (activities.StatisticsResult, error) {
				return workflows.MonthlyStatistics(ctx, req)
			},
		},
		{
			name: "statistics with a timer before its activity", history: "MonthlyStatistics-month.json", workflow: cases.StatisticsWorkflow,
			changed: func(ctx workflow.Context, req cases.StatisticsRequest) (activities.StatisticsResult, error) {
				if err := workflow.Sleep(ctx, time.Minute); err != nil {
					return activities.StatisticsResult{}, err
				}
				return workflows.MonthlyStatistics(ctx, req)
			},
			wantErr: true,
		},
		{
			name: "statistics with its activity renamed", history: "MonthlyStatistics-month.json", workflow: cases.StatisticsWorkflow,
			changed: func(ctx workflow.Context, req cases.StatisticsRequest) (activities.StatisticsResult, error) {
				ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Minute})
				var res activities.StatisticsResult
				err := workflow.ExecuteActivity(ctx, "MaterialiseStatisticsV2", req.Month).Get(ctx, &res)
				return res, err
			},
			wantErr: true,
		},
		{
			name: "statistics without its activity", history: "MonthlyStatistics-month.json", workflow: cases.StatisticsWorkflow,
			changed: func(workflow.Context, cases.StatisticsRequest) (activities.StatisticsResult, error) {
				return activities.StatisticsResult{}, nil
			},
			wantErr: true,
		},
		{
			name: "lifecycle unchanged", history: "CandidateLifecycle-pass.json", workflow: cases.LifecycleWorkflow,
			changed: func(ctx workflow.Context, in cases.LifecycleInput) error {
				return workflows.CandidateLifecycle(ctx, in)
			},
		},
		{
			name: "lifecycle with a timer before its first stage", history: "CandidateLifecycle-pass.json", workflow: cases.LifecycleWorkflow,
			changed: func(ctx workflow.Context, in cases.LifecycleInput) error {
				if err := workflow.Sleep(ctx, time.Second); err != nil {
					return err
				}
				return workflows.CandidateLifecycle(ctx, in)
			},
			wantErr: true,
		},
		{
			name: "retention with a timer before its milestones", history: "CandidateRetention-deletions.json", workflow: cases.RetentionWorkflow,
			changed: func(ctx workflow.Context, plan activities.RetentionPlan) error {
				if err := workflow.Sleep(ctx, time.Second); err != nil {
					return err
				}
				return workflows.CandidateRetention(ctx, plan)
			},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReplayer(t, map[string]any{tt.workflow: tt.changed})
			err := r.ReplayWorkflowHistoryFromJSONFile(testLogger(t), filepath.Join(historiesDir, tt.history))
			switch {
			case tt.wantErr && err == nil:
				t.Fatal("the changed workflow replayed without error")
			case tt.wantErr && !strings.Contains(err.Error(), "nondeterministic") && !strings.Contains(err.Error(), "TMPRL1100"):
				t.Fatalf("want a non-determinism error, got: %v", err)
			case !tt.wantErr && err != nil:
				t.Fatalf("the unchanged workflow did not replay: %v", err)
			}
		})
	}
}

// activityNames are the activity type names that histories, recorded and
// in flight, hold: each is the name of an activities method, and renaming
// one breaks every run that has scheduled it. Add a name with a new
// activity; never rename one (keep the old method instead).
var activityNames = []string{
	"AdmitAppeal", "BuildAccessExport", "CourseStep", "DecideAppeal", "DecideAssessedPart", "DecideCheating",
	"DecideReview", "DeleteCategory", "DeleteClosedHistories", "DeleteCourseParticipant", "EscalateCheatingCase",
	"IssueCourseCertificate", "LegalHold", "LoadRegistration", "MarkPart", "MaterialiseStatistics", "OpenReview",
	"PlanRetention", "PlanUnheldDeletions", "PublishResults", "ReapplyKey", "ReconcileRetention", "RecordDiscrepancy",
	"RecordStage", "ReleaseResults", "RemindReview", "RepublishCandidate", "SendCourseNews", "SettleMergedPublication",
	"StoreAnswerSheet", "StoreAssessment", "SubjectRequestStep",
}

// TestWorkerRegistersTheRecordedActivityNames: worker.Register registers
// exactly the activity names histories hold, and every activity a recorded
// history scheduled is among them. A renamed activities method, or an
// exported method that is no activity, fails here before it fails a
// replay or an open run.
func TestWorkerRegistersTheRecordedActivityNames(t *testing.T) {
	var p productionRegistry
	worker.Register(&p, worker.Deps{})
	registered := slices.Sorted(slices.Values(p.activities))
	if want := slices.Sorted(slices.Values(activityNames)); !slices.Equal(registered, want) {
		t.Errorf("worker.Register registers the activities\n%v\nwant\n%v", registered, want)
	}
	recorded := 0
	for _, path := range historyFiles(t) {
		for _, ev := range loadHistory(t, path).GetEvents() {
			name := ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			if name == "" {
				continue
			}
			recorded++
			if !slices.Contains(registered, name) {
				t.Errorf("%s schedules activity %q, which worker.Register does not register", path, name)
			}
		}
	}
	if recorded == 0 {
		t.Fatal("the recorded histories schedule no activity")
	}
}
