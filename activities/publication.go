package activities

import (
	"context"
	"errors"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/registry"
	"github.com/examflow/examflow/storage"
)

// registryCategories are what a publication releases to the Diploma Registry.
var registryCategories = []policy.DataCategory{policy.DataName, policy.DataDateOfBirth, policy.DataNationalID,
	policy.DataTestType, policy.DataTestResults, policy.DataTestTime}

// Publication publishes final results to the Diploma Registry (T09).
type Publication struct {
	Store    *storage.Store
	Registry registry.Client
	Identity identity.Options
}

// PublishOutcome says what the publication did.
type PublishOutcome struct {
	Published bool   `json:"published"`
	Withdrawn bool   `json:"withdrawn,omitempty"`
	Parts     int    `json:"parts,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// PublishResults publishes the candidate's latest and best released result
// per test and part, under the candidate's publication key, so a retry or a
// later republication replaces and never duplicates. Only candidates with a
// fødselsnummer are published: a D number, DUF number or passport alone is
// not enough (T09). With no result left the publication is withdrawn. Each
// publication is recorded as a disclosure with its legal basis (T08).
func (a *Publication) PublishResults(ctx context.Context, registrationID string) (PublishOutcome, error) {
	id, err := parseID(registrationID)
	if err != nil {
		return PublishOutcome{}, err
	}
	reg, err := a.Store.GetRegistration(ctx, id)
	if err != nil {
		return PublishOutcome{}, err
	}
	pd, err := a.Store.PersonalDataOf(ctx, reg.CandidateID)
	if errors.Is(err, storage.ErrNotFound) {
		a.count(ctx, PublicationSkippedDeleted)
		return PublishOutcome{Reason: "the candidate's data is deleted"}, nil
	}
	if err != nil {
		return PublishOutcome{}, err
	}
	nid := pd.Person.NationalID
	if kind, err := identity.ValidateNationalID(nid, a.Identity); nid == "" || err != nil || kind != identity.KindFodselsnummer {
		a.count(ctx, PublicationSkippedNoFnr)
		return PublishOutcome{Reason: "no fødselsnummer: the Diploma Registry only has candidates with one"}, nil
	}
	// A restriction of processing (T18) stops publication until it is lifted.
	if restricted, err := a.Store.Restricted(ctx, reg.CandidateID); err != nil {
		return PublishOutcome{}, err
	} else if restricted {
		a.count(ctx, PublicationSkippedRestrict)
		return PublishOutcome{Reason: "processing restricted at the person's request"}, nil
	}
	recipient, err := policy.CheckRelease("sikt", registryCategories)
	if err != nil {
		return PublishOutcome{}, temporal.NewNonRetryableApplicationError(err.Error(), cases.ErrorReleaseRefused, err)
	}
	released, err := a.Store.ReleasedResults(ctx, reg.CandidateID)
	if err != nil {
		return PublishOutcome{}, err
	}
	byTest := map[string][]marking.PartResult{}
	for _, r := range released {
		byTest[r.TestType] = append(byTest[r.TestType], marking.PartResult{Part: r.Part, Result: r.Result, DecidedAt: r.DecidedAt})
	}
	var results []registry.Result
	for test, rs := range byTest {
		for part, best := range marking.LatestAndBest(rs) {
			results = append(results, registry.Result{TestType: test, Part: part, Result: best.Result, DecidedAt: best.DecidedAt})
		}
	}
	sort.Slice(results, func(i, j int) bool {
		if results[i].TestType != results[j].TestType {
			return results[i].TestType < results[j].TestType
		}
		return results[i].Part < results[j].Part
	})
	key := "candidate-" + reg.CandidateID.String()
	if len(results) == 0 {
		if err := a.Registry.Withdraw(ctx, key); err != nil {
			return PublishOutcome{}, a.registryError(ctx, err)
		}
		a.count(ctx, PublicationWithdrawn)
		return PublishOutcome{Withdrawn: true, Reason: "no released result left"}, nil
	}
	pub := registry.Publication{Key: key, NationalID: nid, GivenName: pd.Person.GivenName, FamilyName: pd.Person.FamilyName, Results: results}
	if !pd.Person.DateOfBirth.IsZero() {
		pub.DateOfBirth = pd.Person.DateOfBirth.Format(time.DateOnly)
	}
	if _, err := a.Registry.Publish(ctx, pub); err != nil {
		return PublishOutcome{}, a.registryError(ctx, err)
	}
	if err := a.Store.RecordDisclosure(ctx, storage.Disclosure{
		ID: stableID(ctx, registrationID, "publication"), CandidateID: reg.CandidateID, RegistrationID: &id,
		Recipient: recipient.ID, LegalBasis: recipient.LegalBasis, Action: "publish", Reference: key,
		Categories: categoryNames(registryCategories),
	}); err != nil {
		return PublishOutcome{}, err
	}
	a.count(ctx, PublicationPublished)
	return PublishOutcome{Published: true, Parts: len(results)}, nil
}

// SettleMergedPublication withdraws the publication of a candidate merged
// into another and publishes the survivor's final results, the merged
// ones among them, under the survivor's key (the survivor may only now
// have the fødselsnummer the registry needs). Withdrawing a publication
// that is not there is not an error, so a retry does no harm.
func (a *Publication) SettleMergedPublication(ctx context.Context, in cases.MergeInput) (PublishOutcome, error) {
	merged, err := parseID(in.MergedID)
	if err != nil {
		return PublishOutcome{}, err
	}
	survivor, err := parseID(in.SurvivorID)
	if err != nil {
		return PublishOutcome{}, err
	}
	if err := a.Registry.Withdraw(ctx, "candidate-"+merged.String()); err != nil {
		return PublishOutcome{}, a.registryError(ctx, err)
	}
	regs, err := a.Store.FinalRegistrations(ctx, survivor)
	if err != nil {
		return PublishOutcome{}, err
	}
	if len(regs) == 0 {
		return PublishOutcome{Withdrawn: true, Reason: "the survivor has no final result"}, nil
	}
	return a.PublishResults(ctx, regs[0].String())
}

// count adds one to examflow_publications{outcome}.
func (a *Publication) count(ctx context.Context, outcome string) {
	count(ctx, MetricPublications, map[string]string{"outcome": outcome})
}

// registryError classifies a Diploma Registry error and counts a refusal
// (a retryable failure is retried, and counted when it ends).
func (a *Publication) registryError(ctx context.Context, err error) error {
	if registry.IsPermanent(err) {
		a.count(ctx, PublicationRefused)
	}
	return registryError(err)
}

func registryError(err error) error {
	if registry.IsPermanent(err) {
		return temporal.NewNonRetryableApplicationError("the Diploma Registry refused the publication", cases.ErrorRegistryRefused, err)
	}
	return err
}

func categoryNames(cs []policy.DataCategory) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}
