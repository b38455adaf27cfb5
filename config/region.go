package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Region is where examflow's stores run: PostgreSQL, MinIO and Temporal, and
// the SMTP relay. Both privacy policies keep processing and storage inside
// the EU/EEA (T12); the course policy also allows a country with an EU
// adequacy decision (C09). examflow cannot see where a managed service
// really runs: the operator declares the region here and Load refuses one
// outside the EU/EEA unless OutsideEEAReason overrides it.
//
// The rule (CheckRegion), applied to the lower-cased name:
//   - a provider region in eeaRegions (AWS, Google Cloud and Azure regions
//     in EU/EEA countries) is accepted; a provider region in a European
//     country outside the EEA (eu-west-2 London, eu-central-2 Zurich,
//     europe-west2, europe-west6, uksouth, switzerlandnorth, ...) is refused,
//     although its name starts with "eu" or "europe";
//   - otherwise a name that is, or begins with, the ISO 3166-1 alpha-2 code
//     of an EU/EEA country followed by "-" is accepted (no-osl-1, se-sto,
//     de-fra-1, fr-par): the convention of self-hosted stores and several
//     European providers;
//   - anything else is refused, including unknown "eu-*" names.
type Region struct {
	// Name is the region, e.g. eu-north-1 (the default: the AWS-style name
	// of Stockholm, which an S3 client and MinIO accept as a region).
	Name string `env:"EXAMFLOW_STORAGE_REGION" envDefault:"eu-north-1"`
	// OutsideEEAReason, when not empty, lets a region outside the EU/EEA
	// pass: the written reason (at least MinOverrideReason characters), e.g.
	// the adequacy decision of the region's country. Every process logs it
	// at warn level at start-up. It breaks T12 wherever state-test data is
	// held; it is meant for a deployment with course data only (C09).
	OutsideEEAReason string `env:"EXAMFLOW_ALLOW_REGION_OUTSIDE_EEA"`
}

// MinOverrideReason is the shortest reason EXAMFLOW_ALLOW_REGION_OUTSIDE_EEA
// accepts, so that "1", "true" or "yes" cannot pass for one.
const MinOverrideReason = 20

// RegionDecision is the outcome of CheckRegion.
type RegionDecision struct {
	// Region is the normalised (trimmed, lower-case) region name.
	Region string
	// Country is the ISO 3166-1 alpha-2 code the region is in, when known.
	Country string
	// InEEA says the region is in the EU/EEA.
	InEEA bool
	// Override is the reason given for a region outside the EU/EEA; empty
	// when the region is in the EU/EEA.
	Override string
}

// ErrRegionOutsideEEA is returned for a region that is not in the EU/EEA
// and has no override.
var ErrRegionOutsideEEA = errors.New("storage region is not in the EU/EEA")

// eeaCountries are the EU member states and the other EEA states (Iceland,
// Liechtenstein, Norway), by ISO 3166-1 alpha-2 code (Greece is "gr").
var eeaCountries = map[string]string{
	"at": "Austria", "be": "Belgium", "bg": "Bulgaria", "hr": "Croatia", "cy": "Cyprus", "cz": "Czechia",
	"dk": "Denmark", "ee": "Estonia", "fi": "Finland", "fr": "France", "de": "Germany", "gr": "Greece",
	"hu": "Hungary", "ie": "Ireland", "it": "Italy", "lv": "Latvia", "lt": "Lithuania", "lu": "Luxembourg",
	"mt": "Malta", "nl": "Netherlands", "pl": "Poland", "pt": "Portugal", "ro": "Romania", "sk": "Slovakia",
	"si": "Slovenia", "es": "Spain", "se": "Sweden",
	"is": "Iceland", "li": "Liechtenstein", "no": "Norway",
}

// eeaRegions are cloud provider regions in EU/EEA countries: region to
// country code.
var eeaRegions = map[string]string{
	// AWS
	"eu-north-1": "se", "eu-west-1": "ie", "eu-west-3": "fr", "eu-central-1": "de", "eu-south-1": "it", "eu-south-2": "es",
	// Google Cloud
	"europe-north1": "fi", "europe-north2": "se", "europe-west1": "be", "europe-west3": "de", "europe-west4": "nl",
	"europe-west8": "it", "europe-west9": "fr", "europe-west10": "de", "europe-west12": "it", "europe-central2": "pl",
	"europe-southwest1": "es",
	// Azure
	"norwayeast": "no", "norwaywest": "no", "swedencentral": "se", "northeurope": "ie", "westeurope": "nl",
	"francecentral": "fr", "francesouth": "fr", "germanywestcentral": "de", "germanynorth": "de",
	"italynorth": "it", "polandcentral": "pl", "spaincentral": "es",
}

// nonEEARegions are provider regions in Europe but outside the EEA, named so
// the refusal can say where they are.
var nonEEARegions = map[string]string{
	"eu-west-2": "gb", "eu-central-2": "ch",
	"europe-west2": "gb", "europe-west6": "ch",
	"uksouth": "gb", "ukwest": "gb", "switzerlandnorth": "ch", "switzerlandwest": "ch",
}

// CheckRegion applies the EU/EEA rule (see Region) to the configured region
// and its override.
func (r Region) CheckRegion() (RegionDecision, error) {
	name := strings.ToLower(strings.TrimSpace(r.Name))
	d := RegionDecision{Region: name}
	if name == "" {
		return d, errors.New("EXAMFLOW_STORAGE_REGION must name the region the stores run in")
	}
	if cc, ok := eeaRegions[name]; ok {
		d.Country, d.InEEA = cc, true
		return d, nil
	}
	if cc, ok := nonEEARegions[name]; ok {
		d.Country = cc
	} else if cc, _, _ := strings.Cut(name, "-"); eeaCountries[cc] != "" {
		d.Country, d.InEEA = cc, true
		return d, nil
	}
	reason := strings.TrimSpace(r.OutsideEEAReason)
	switch {
	case reason == "":
		return d, fmt.Errorf("EXAMFLOW_STORAGE_REGION %q: %w (T12, C09); name an EU/EEA region, "+
			"or set EXAMFLOW_ALLOW_REGION_OUTSIDE_EEA to the reason, such as the adequacy decision of its country", name, ErrRegionOutsideEEA)
	case len([]rune(reason)) < MinOverrideReason:
		return d, fmt.Errorf("EXAMFLOW_ALLOW_REGION_OUTSIDE_EEA must give the reason in words (at least %d characters), got %q", MinOverrideReason, reason)
	}
	d.Override = reason
	return d, nil
}

// warnOverride logs, at warn level whatever the configured level, that the
// region is outside the EU/EEA by override, with the reason.
func warnOverride(h slog.Handler, d RegionDecision) {
	if d.Override == "" {
		return
	}
	rec := slog.NewRecord(time.Now(), slog.LevelWarn, "storage region outside the EU/EEA, allowed by EXAMFLOW_ALLOW_REGION_OUTSIDE_EEA", 0)
	rec.AddAttrs(slog.String("region", d.Region), slog.String("country", d.Country), slog.String("reason", d.Override))
	_ = h.Handle(context.Background(), rec)
}
