package config

import (
	"fmt"
	"time"

	"github.com/examflow/examflow/policy"
)

// Courses configures the course registrations (C01-C11).
type Courses struct {
	// PolicyVersion is the privacy policy version a registration consents to
	// (C03): the date the course policy was updated, YYYY-MM-DD. The default
	// is the policy in force (policy.CoursePolicyVersion, 11 February 2025);
	// Load refuses an older one (checkPolicyVersion).
	PolicyVersion string `env:"EXAMFLOW_COURSE_POLICY_VERSION" envDefault:"2025-02-11"`
	// SurveyAfter is how long after the completion the survey invitation goes (C04).
	SurveyAfter time.Duration `env:"EXAMFLOW_COURSE_SURVEY_AFTER" envDefault:"24h"`
	// SurveyURL is the user survey the invitation links to.
	SurveyURL string `env:"EXAMFLOW_COURSE_SURVEY_URL"`
	// NewsEvery is how often new relevant courses are looked for (C04).
	NewsEvery time.Duration `env:"EXAMFLOW_COURSE_NEWS_EVERY" envDefault:"720h"`
	// Retention overrides the 24 months of C06 (tests and demos only).
	Retention time.Duration `env:"EXAMFLOW_COURSE_RETENTION"`
	// PublicURL is the API's address as participants reach it, for their
	// self-service links.
	PublicURL string `env:"EXAMFLOW_PUBLIC_URL" envDefault:"http://127.0.0.1:8080"`
	// LinkTTL is how long a participant's self-service link works; an
	// expired link asks for a fresh one, mailed to the address on file.
	LinkTTL time.Duration `env:"EXAMFLOW_COURSE_LINK_TTL" envDefault:"720h"`
}

// checkPolicyVersion refuses a consent version that is not a policy date
// (YYYY-MM-DD) or is older than the course policy in force: a registration
// must never record consent to a text that no longer applies.
func (c Courses) checkPolicyVersion() error {
	v, err := time.Parse(time.DateOnly, c.PolicyVersion)
	if err != nil || v.Format(time.DateOnly) != c.PolicyVersion {
		return fmt.Errorf("EXAMFLOW_COURSE_POLICY_VERSION must be the date the course policy was updated, YYYY-MM-DD (the policy in force is %s), got %q",
			policy.CoursePolicyVersion, c.PolicyVersion)
	}
	if c.PolicyVersion < policy.CoursePolicyVersion {
		return fmt.Errorf("EXAMFLOW_COURSE_POLICY_VERSION %s is older than the course policy in force (%s, updated 11 February 2025): consent is given to the policy in force",
			c.PolicyVersion, policy.CoursePolicyVersion)
	}
	return nil
}
