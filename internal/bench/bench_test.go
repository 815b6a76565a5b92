package bench

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	c := DefaultConfig()
	c.Strategy, c.Runs, c.WeightInterval = "Canary7Percent", 0, 2*time.Second
	err := c.Validate()
	for _, want := range []string{`strategy: unknown strategy "Canary7Percent"`, "runs 0", "at most 1 s apart"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want every problem, including %q", err, want)
		}
	}
}
