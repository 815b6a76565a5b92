package deploy

import (
	"encoding/json"
	"testing"
)

func TestSplitAndPercent(t *testing.T) {
	for _, tc := range []struct {
		stable  Colour
		percent int
		want    Weights
	}{
		{Blue, 10, Weights{Blue: 90, Green: 10}},
		{Green, 10, Weights{Blue: 10, Green: 90}},
		{Blue, 100, Weights{Blue: 0, Green: 100}},
		{Green, 0, Weights{Blue: 0, Green: 100}},
	} {
		w := Split(tc.stable, tc.percent)
		if w != tc.want {
			t.Errorf("Split(%s, %d) = %s, want %s", tc.stable, tc.percent, w, tc.want)
		}
		if got := w.Percent(tc.stable.Other()); got != tc.percent {
			t.Errorf("Percent(%s) of %s = %d, want %d", tc.stable.Other(), w, got, tc.percent)
		}
	}
	if p := (Weights{Blue: 1, Green: 2}).Percent(Green); p != 67 {
		t.Errorf("1:2 gives green %d%%, want 67", p)
	}
	if p := (Weights{}).Percent(Blue); p != 0 {
		t.Errorf("zero weights give %d%%", p)
	}
}

func TestSameComparesRatios(t *testing.T) {
	for _, tc := range []struct {
		a, b Weights
		want bool
	}{
		{Weights{Blue: 1}, Weights{Blue: 100}, true},
		{Weights{Blue: 90, Green: 10}, Weights{Blue: 9, Green: 1}, true},
		{Weights{Blue: 1, Green: 998}, Weights{Green: 100}, false},
		{Weights{Blue: 50, Green: 50}, Weights{Blue: 49, Green: 51}, false},
		{Weights{}, Weights{Blue: 1}, false},
	} {
		if got := tc.a.Same(tc.b); got != tc.want {
			t.Errorf("%s Same %s = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestWeightsValidateAndParse(t *testing.T) {
	for _, w := range []Weights{{Blue: 1000}, {Blue: -1, Green: 5}, {}} {
		if w.Validate() == nil {
			t.Errorf("%s validated", w)
		}
	}
	w, err := ParseWeights("blue=90,green=10")
	if err != nil || w != (Weights{Blue: 90, Green: 10}) {
		t.Fatalf("parse: %s, %v", w, err)
	}
	for _, bad := range []string{"", "blue=1", "blue=1,blue=2", "red=1,green=1", "blue=x,green=1", "blue=0,green=0"} {
		if _, err := ParseWeights(bad); err == nil {
			t.Errorf("ParseWeights(%q) accepted", bad)
		}
	}
	if c, ok := (Weights{Green: 3}).Sole(); !ok || c != Green {
		t.Errorf("Sole of green-only = %s, %v", c, ok)
	}
	if _, ok := (Weights{Blue: 3, Green: 1}).Sole(); ok {
		t.Error("split weights have a sole colour")
	}
}

func TestColourJSON(t *testing.T) {
	var c Colour
	if err := json.Unmarshal([]byte(`"green"`), &c); err != nil || c != Green {
		t.Fatalf("green: %v %v", c, err)
	}
	if err := json.Unmarshal([]byte(`"red"`), &c); err == nil {
		t.Fatal("red accepted")
	}
}
