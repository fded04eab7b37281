package schedule_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
)

func TestParseWaits(t *testing.T) {
	t.Parallel()
	got, err := schedule.ParseWaits([]string{"10s", " 5m ", "1h30m", "24h", "1s"})
	want := []time.Duration{10 * time.Second, 5 * time.Minute, 90 * time.Minute, 24 * time.Hour, time.Second}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	seven := slices.Repeat([]string{"24h"}, 7)
	if _, err := schedule.ParseWaits(seven); err != nil {
		t.Errorf("7 × 24h (exactly 7 days) refused: %v", err)
	}
	if _, err := schedule.ParseWaits(slices.Repeat([]string{"1s"}, 30)); err != nil {
		t.Errorf("30 waits refused: %v", err)
	}
	for _, tc := range []struct {
		name  string
		waits []string
		says  string // in the message
	}{
		{"none", []string{}, "from 1 to 30 waits"},
		{"nil", nil, "from 1 to 30 waits"},
		{"31 waits", slices.Repeat([]string{"1s"}, 31), "this has 31"},
		{"not a duration", []string{"10s", "soon"}, `wait 2 ("soon") is not a duration`},
		{"days", []string{"1d"}, "is not a duration"},
		{"bare number", []string{"10"}, "is not a duration"},
		{"empty", []string{""}, "is not a duration"},
		{"too short", []string{"500ms"}, "wait 1 (500ms) must be from 1s to 24h"},
		{"zero", []string{"0s"}, "from 1s to 24h"},
		{"negative", []string{"-5s"}, "from 1s to 24h"},
		{"too long", []string{"24h1s"}, "from 1s to 24h"},
		{"fraction", []string{"1.5s"}, "whole seconds"},
		{"over 7 days", append(seven, "1s"), "add up to 168h0m1s; at most 168h"},
	} {
		if _, err := schedule.ParseWaits(tc.waits); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: got %v, want an error saying %q", tc.name, err, tc.says)
		}
	}
}

func TestSpecCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec  schedule.Spec
		field string // "": valid
	}{
		{schedule.Spec{Preset: "fast"}, ""},
		{schedule.Spec{Preset: "standard"}, ""},
		{schedule.Spec{Preset: "patient"}, ""},
		{schedule.Spec{Waits: []string{"10s", "1m"}}, ""},
		{schedule.Spec{}, "retrySchedule"},
		{schedule.Spec{Preset: "fast", Waits: []string{"10s"}}, "retrySchedule"},
		{schedule.Spec{Preset: "slow"}, "retrySchedule.preset"},
		{schedule.Spec{Preset: "Fast"}, "retrySchedule.preset"},
		{schedule.Spec{Waits: []string{}}, "retrySchedule.waits"},
		{schedule.Spec{Waits: []string{"2d"}}, "retrySchedule.waits"},
	} {
		errs := tc.spec.Check()
		switch {
		case tc.field == "" && errs != nil:
			t.Errorf("%+v: refused: %v", tc.spec, errs)
		case tc.field != "" && (len(errs) != 1 || errs[tc.field] == ""):
			t.Errorf("%+v: got %v, want an error on %s", tc.spec, errs, tc.field)
		}
	}
	if msg := (schedule.Spec{Preset: "slow"}).Check()["retrySchedule.preset"]; msg != "must be one of: standard, fast, patient" {
		t.Errorf("preset message %q", msg)
	}
}

// TestPresets: every preset is within the bounds a custom list must keep,
// and standard is the product's default schedule.
func TestPresets(t *testing.T) {
	t.Parallel()
	for _, name := range schedule.PresetNames() {
		waits, ok := schedule.Preset(name)
		if !ok {
			t.Fatalf("preset %s missing", name)
		}
		if _, err := schedule.ParseWaits(schedule.FormatAll(waits)); err != nil {
			t.Errorf("preset %s out of bounds: %v", name, err)
		}
	}
	cfg, err := config.LoadFrom(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if std, _ := schedule.Preset(schedule.Standard); !slices.Equal(std, cfg.Retries) {
		t.Errorf("standard %v, the default DELIVERY_RETRY_SCHEDULE %v", std, cfg.Retries)
	}
	fast, _ := schedule.Preset(schedule.Fast)
	patient, _ := schedule.Preset(schedule.Patient)
	if sum(fast) > 10*time.Minute || sum(patient) < 3*24*time.Hour || sum(patient) > 4*24*time.Hour {
		t.Errorf("fast spans %s, patient %s", sum(fast), sum(patient))
	}
	// A caller cannot change a preset through its copy.
	fast[0] = time.Hour
	if again, _ := schedule.Preset(schedule.Fast); again[0] != 5*time.Second {
		t.Error("Preset returned the preset itself")
	}
	if _, ok := schedule.Preset("nope"); ok {
		t.Error("an unknown preset resolved")
	}
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		10 * time.Second: "10s", 5 * time.Minute: "5m", time.Hour: "1h", 90 * time.Minute: "1h30m",
		90 * time.Second: "1m30s", 25*time.Hour + time.Second: "25h0m1s",
	} {
		if got := schedule.Format(d); got != want {
			t.Errorf("Format(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	fast := schedule.Fast
	if w, ok := schedule.Resolve(&fast, nil); !ok || len(w) != 6 {
		t.Errorf("preset: %v %v", w, ok)
	}
	if w, ok := schedule.Resolve(nil, []int64{1, 120}); !ok || !slices.Equal(w, []time.Duration{time.Second, 2 * time.Minute}) {
		t.Errorf("waits: %v %v", w, ok)
	}
	if _, ok := schedule.Resolve(nil, nil); ok {
		t.Error("no schedule resolved")
	}
	unknown := "gone"
	if _, ok := schedule.Resolve(&unknown, nil); ok {
		t.Error("an unknown preset resolved: the global schedule must apply")
	}
	if got := schedule.FromSeconds(schedule.Seconds([]time.Duration{time.Minute})); got[0] != time.Minute {
		t.Errorf("round trip %v", got)
	}
}
