package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/examflow/examflow/policy"
)

// The queries below count the current state for the worker's metrics
// gauges (worker.StateCollector): counts and dates only, never an ID or
// personal data.

// ReviewBacklog is the state of the manual reviews of held results.
type ReviewBacklog struct {
	// Pending reviews are opened and not decided; Overdue ones are past
	// their due date.
	Pending, Overdue int
	// OldestOpenedAt is when the oldest pending review was opened (nil
	// when none is pending).
	OldestOpenedAt *time.Time
}

// ReviewBacklog counts the pending manual reviews.
func (s *Store) ReviewBacklog(ctx context.Context, now time.Time) (ReviewBacklog, error) {
	var b ReviewBacklog
	err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE due_at < $1), min(opened_at)
		FROM reviews WHERE decided_at IS NULL`, now).Scan(&b.Pending, &b.Overdue, &b.OldestOpenedAt)
	if err != nil {
		return b, classify(fmt.Errorf("count pending reviews: %w", err))
	}
	return b, nil
}

// AppealState is an appeal's kind and status.
type AppealState struct{ Kind, Status string }

// OpenAppeals counts the appeals not closed, by kind and status (open, or
// county_governor while the County Governor decides).
func (s *Store) OpenAppeals(ctx context.Context) (map[AppealState]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, status, count(*) FROM appeals WHERE closed_at IS NULL GROUP BY kind, status`)
	if err != nil {
		return nil, classify(fmt.Errorf("count open appeals: %w", err))
	}
	defer rows.Close()
	out := map[AppealState]int{}
	for rows.Next() {
		var kind, status string
		var n int
		if err := rows.Scan(&kind, &status, &n); err != nil {
			return nil, classify(fmt.Errorf("count open appeals: %w", err))
		}
		out[AppealState{kind, status}] = n
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("count open appeals: %w", err))
	}
	return out, nil
}

// RequestBacklog is the state of the open (unanswered) data subject
// requests of one kind.
type RequestBacklog struct {
	Open int
	// DueSoon are open requests not yet overdue that are due before the
	// horizon given to SubjectRequestBacklog.
	DueSoon int
	// NextDue is the earliest due date of the open requests.
	NextDue *time.Time
	// Extended are open requests whose due date an extension moved beyond
	// the first 30 days.
	Extended int
}

// SubjectRequestBacklog counts the open data subject requests by kind:
// how many, how many are due between now and horizon, and the earliest due
// date, and how many were extended. Overdue requests are
// OverdueSubjectRequests.
func (s *Store) SubjectRequestBacklog(ctx context.Context, now, horizon time.Time) (map[string]RequestBacklog, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, count(*), count(*) FILTER (WHERE due_at >= $1 AND due_at < $2), min(due_at),
		count(*) FILTER (WHERE due_at > original_due_at)
		FROM subject_requests WHERE answered_at IS NULL GROUP BY kind`, now, horizon)
	if err != nil {
		return nil, classify(fmt.Errorf("count open subject requests: %w", err))
	}
	defer rows.Close()
	out := map[string]RequestBacklog{}
	for rows.Next() {
		var kind string
		var b RequestBacklog
		if err := rows.Scan(&kind, &b.Open, &b.DueSoon, &b.NextDue, &b.Extended); err != nil {
			return nil, classify(fmt.Errorf("count open subject requests: %w", err))
		}
		out[kind] = b
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("count open subject requests: %w", err))
	}
	return out, nil
}

// DeletionBacklog counts, for one category, the registrations whose data
// of the category is past its deletion deadline and not deleted.
type DeletionBacklog struct {
	// Overdue: nothing holds the deletion; the workflow or the
	// reconciliation should have deleted it.
	Overdue int
	// Held: a legal hold (an open cheating case, or an open appeal that
	// needs the category) postpones the deletion.
	Held int
}

// OverdueDeletionCounts counts what OverdueDeletions finds, per category
// (every category with a cutoff, zero included), split by whether a legal
// hold (LegalHold) postpones it.
func (s *Store) OverdueDeletionCounts(ctx context.Context, cutoffs map[string]time.Time, addressFromRegistered bool) (map[string]DeletionBacklog, error) {
	queries := overdueQueries(addressFromRegistered)
	out := map[string]DeletionBacklog{}
	for _, category := range deletionCategories {
		cutoff, ok := cutoffs[category]
		if !ok {
			continue
		}
		var b DeletionBacklog
		err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT held), count(*) FILTER (WHERE held) FROM (
			SELECT $3::boolean AND ((EXISTS (SELECT 1 FROM discrepancies d WHERE d.registration_id = o.id AND d.kind = 'provisional_cheating')
					AND NOT EXISTS (SELECT 1 FROM cheating_decisions c WHERE c.registration_id = o.id))
				OR EXISTS (SELECT 1 FROM appeals a WHERE a.registration_id = o.id AND a.closed_at IS NULL)) AS held
			FROM (`+queries[category]+`) o (id, event_at)) h`, cutoff, category, policy.CaseNeeds[policy.Category(category)]).Scan(&b.Overdue, &b.Held)
		if err != nil {
			return nil, classify(fmt.Errorf("count overdue %s: %w", category, err))
		}
		out[category] = b
	}
	return out, nil
}

// CheatingBacklog counts the provisional cheating reports not decided.
type CheatingBacklog struct {
	// Open cases have a provisional report and no decision; Escalated
	// ones among them were escalated to case handlers.
	Open, Escalated int
	// OldestReportedAt is the report of the oldest open case, if any.
	OldestReportedAt *time.Time
}

// CheatingCases counts the undecided cheating cases.
func (s *Store) CheatingCases(ctx context.Context) (CheatingBacklog, error) {
	var b CheatingBacklog
	err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE escalated), min(reported_at) FROM (
			SELECT bool_or(d.escalated_at IS NOT NULL) AS escalated, min(d.reported_at) AS reported_at
			FROM discrepancies d
			WHERE d.kind = 'provisional_cheating' AND d.registration_id IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM cheating_decisions c WHERE c.registration_id = d.registration_id)
			GROUP BY d.registration_id) open`).Scan(&b.Open, &b.Escalated, &b.OldestReportedAt)
	if err != nil {
		return b, classify(fmt.Errorf("count cheating cases: %w", err))
	}
	return b, nil
}
