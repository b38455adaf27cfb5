package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/examflow/examflow/policy"
)

const reason = "Switzerland: adequacy decision 2000/518/EC, course data only"

func TestCheckRegion(t *testing.T) {
	tests := []struct {
		name     string
		region   Region
		country  string
		inEEA    bool
		override bool
		refused  bool
	}{
		// EU/EEA provider regions.
		{name: "default, AWS Stockholm", region: Region{Name: "eu-north-1"}, country: "se", inEEA: true},
		{name: "AWS Frankfurt", region: Region{Name: "eu-central-1"}, country: "de", inEEA: true},
		{name: "AWS Ireland", region: Region{Name: "eu-west-1"}, country: "ie", inEEA: true},
		{name: "Google Finland", region: Region{Name: "europe-north1"}, country: "fi", inEEA: true},
		{name: "Azure Norway East", region: Region{Name: "norwayeast"}, country: "no", inEEA: true},
		{name: "case and spaces", region: Region{Name: "  EU-North-1 "}, country: "se", inEEA: true},
		// EU/EEA country form.
		{name: "Norwegian self-hosted", region: Region{Name: "no-osl-1"}, country: "no", inEEA: true},
		{name: "Swedish", region: Region{Name: "se-sto"}, country: "se", inEEA: true},
		{name: "Iceland", region: Region{Name: "is-rey-1"}, country: "is", inEEA: true},
		{name: "country code alone", region: Region{Name: "no"}, country: "no", inEEA: true},
		{name: "in the EEA, override not used", region: Region{Name: "no-osl-1", OutsideEEAReason: reason}, country: "no", inEEA: true},
		// Outside the EU/EEA.
		{name: "AWS London", region: Region{Name: "eu-west-2"}, country: "gb", refused: true},
		{name: "AWS Zurich", region: Region{Name: "eu-central-2"}, country: "ch", refused: true},
		{name: "Google Zurich", region: Region{Name: "europe-west6"}, country: "ch", refused: true},
		{name: "Azure UK South", region: Region{Name: "uksouth"}, country: "gb", refused: true},
		{name: "AWS Virginia", region: Region{Name: "us-east-1"}, refused: true},
		{name: "AWS Singapore", region: Region{Name: "ap-southeast-1"}, refused: true},
		{name: "Swiss country form", region: Region{Name: "ch-gva-2"}, refused: true},
		{name: "unknown eu- name", region: Region{Name: "eu-west-9"}, refused: true},
		{name: "eu alone", region: Region{Name: "eu"}, refused: true},
		{name: "empty", region: Region{Name: " "}, refused: true},
		{name: "empty with override", region: Region{Name: "", OutsideEEAReason: reason}, refused: true},
		// The override.
		{name: "override with a reason", region: Region{Name: "europe-west6", OutsideEEAReason: reason}, country: "ch", override: true},
		{name: "override for an unknown region", region: Region{Name: "us-east-1", OutsideEEAReason: reason}, override: true},
		{name: "override without a reason", region: Region{Name: "europe-west6", OutsideEEAReason: "true"}, country: "ch", refused: true},
		{name: "override of spaces", region: Region{Name: "us-east-1", OutsideEEAReason: "                         "}, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tt.region.CheckRegion()
			if (err != nil) != tt.refused {
				t.Fatalf("CheckRegion(%+v) error = %v, want refused %t", tt.region, err, tt.refused)
			}
			if tt.refused {
				return
			}
			if d.Country != tt.country || d.InEEA != tt.inEEA || (d.Override != "") != tt.override {
				t.Errorf("CheckRegion(%+v) = %+v, want country %q, in EEA %t, override %t", tt.region, d, tt.country, tt.inEEA, tt.override)
			}
			if tt.override && d.Override != strings.TrimSpace(tt.region.OutsideEEAReason) {
				t.Errorf("override reason = %q", d.Override)
			}
		})
	}
}

// The allow list holds only EU/EEA countries, and no region is on both lists.
func TestRegionListsAreConsistent(t *testing.T) {
	if len(eeaCountries) != 30 {
		t.Errorf("%d EU/EEA countries, want 27 EU member states and 3 other EEA states", len(eeaCountries))
	}
	for region, cc := range eeaRegions {
		if eeaCountries[cc] == "" {
			t.Errorf("%s is listed as EU/EEA but is in %q", region, cc)
		}
		if _, ok := nonEEARegions[region]; ok {
			t.Errorf("%s is on both lists", region)
		}
	}
	for region, cc := range nonEEARegions {
		if eeaCountries[cc] != "" {
			t.Errorf("%s is listed as outside the EEA but is in %q", region, cc)
		}
	}
}

// Every process calls Load, so every process refuses a region outside the
// EU/EEA; the default of `make run` passes.
func TestLoadRefusesRegionOutsideEEA(t *testing.T) {
	tests := []struct {
		name, region, override string
		unset                  bool
		wantErr                error
		refused                bool
	}{
		{name: "default", unset: true},
		{name: "EEA region", region: "eu-central-1"},
		{name: "outside", region: "us-east-1", wantErr: ErrRegionOutsideEEA, refused: true},
		{name: "outside with override", region: "us-east-1", override: reason},
		{name: "override too short", region: "us-east-1", override: "yes", refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setSecrets(t)
			t.Setenv("EXAMFLOW_STORAGE_REGION", tt.region)
			t.Setenv("EXAMFLOW_ALLOW_REGION_OUTSIDE_EEA", tt.override)
			if tt.unset {
				os.Unsetenv("EXAMFLOW_STORAGE_REGION")
				os.Unsetenv("EXAMFLOW_ALLOW_REGION_OUTSIDE_EEA")
			}
			c, err := Load()
			if (err != nil) != tt.refused || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("Load() error = %v, want refused %t (%v)", err, tt.refused, tt.wantErr)
			}
			if tt.unset && c.Region.Name != "eu-north-1" {
				t.Errorf("default region = %q", c.Region.Name)
			}
		})
	}
}

// The override is logged at warn level with its reason, even when the log
// level would hide warnings; without an override nothing is logged.
func TestOverrideIsLoggedAtWarn(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		logged bool
	}{
		{name: "override, level error", cfg: Config{LogLevel: "error", Region: Region{Name: "europe-west6", OutsideEEAReason: reason}}, logged: true},
		{name: "override, level info", cfg: Config{LogLevel: "info", Region: Region{Name: "us-east-1", OutsideEEAReason: reason}}, logged: true},
		{name: "EEA region", cfg: Config{LogLevel: "debug", Region: Region{Name: "eu-north-1", OutsideEEAReason: reason}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.cfg.newLogger(&buf)
			if !tt.logged {
				if buf.Len() != 0 {
					t.Fatalf("logged %s", buf.String())
				}
				return
			}
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("not one JSON record: %q: %v", buf.String(), err)
			}
			if rec["level"] != "WARN" || rec["reason"] != reason || rec["region"] != tt.cfg.Region.Name {
				t.Errorf("record = %v", rec)
			}
		})
	}
}

// The record of processing names its processors and the region rule by the
// environment variables this package reads, and README.md lists the region
// variables with their defaults.
func TestRecordNamesConfiguredVariables(t *testing.T) {
	vars := map[string]string{}
	collectEnv(reflect.TypeFor[Config](), vars)
	rec := policy.ProcessingRecord()
	for _, p := range rec.Processors {
		if len(p.ConfiguredBy) == 0 {
			t.Errorf("processor %q names no configuration", p.Role)
		}
		for _, v := range p.ConfiguredBy {
			if _, ok := vars[v]; !ok {
				t.Errorf("processor %q is configured by %s, which config does not read", p.Role, v)
			}
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"EXAMFLOW_STORAGE_REGION", "EXAMFLOW_ALLOW_REGION_OUTSIDE_EEA"} {
		def, ok := vars[v]
		if !ok {
			t.Fatalf("config does not read %s", v)
		}
		if !strings.Contains(rec.StorageLocation, v) {
			t.Errorf("the record's storage location does not name %s", v)
		}
		want := "| `" + v + "` | `" + def + "` |"
		if def == "" {
			want = "| `" + v + "` | empty |"
		}
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md's configuration table lacks %q", want)
		}
	}
}

// collectEnv gathers the env tags of a struct type and its nested structs,
// with their defaults.
func collectEnv(t reflect.Type, out map[string]string) {
	for f := range t.Fields() {
		if name, ok := f.Tag.Lookup("env"); ok {
			out[name] = f.Tag.Get("envDefault")
		}
		if f.Type.Kind() == reflect.Struct {
			collectEnv(f.Type, out)
		}
	}
}
