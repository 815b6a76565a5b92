package deploy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Colour names one of the two target groups.
type Colour string

// The two colours.
const (
	Blue  Colour = "blue"
	Green Colour = "green"
)

// Other returns the other colour.
func (c Colour) Other() Colour {
	if c == Blue {
		return Green
	}
	return Blue
}

// Valid reports whether c is blue or green.
func (c Colour) Valid() bool { return c == Blue || c == Green }

// MaxWeight is the largest weight ALB accepts for a target group in a
// forward action.
// NOTE: ALB weights are 0-999 (ELBv2 API reference, TargetGroupTuple).
// moto accepts 1000; real AWS rejects it, so we validate on our side.
const MaxWeight = 999

// Weights are the ALB weights of the blue and green target groups in the
// listener's forward action. Weights are relative: {1,0} and {100,0} send
// the same traffic. A target group absent from the forward action has
// weight 0.
type Weights struct {
	Blue  int `json:"blue"`
	Green int `json:"green"`
}

// Split returns the weights that send percent of the traffic to the colour
// other than stable, using percentages as ALB weights.
func Split(stable Colour, percent int) Weights {
	return Weights{}.with(stable, 100-percent).with(stable.Other(), percent)
}

// Of returns the weight of colour c.
func (w Weights) Of(c Colour) int {
	if c == Green {
		return w.Green
	}
	return w.Blue
}

func (w Weights) with(c Colour, v int) Weights {
	if c == Green {
		w.Green = v
	} else {
		w.Blue = v
	}
	return w
}

// Validate checks that both weights are within ALB's range and that at
// least one is positive.
func (w Weights) Validate() error {
	for _, v := range []int{w.Blue, w.Green} {
		if v < 0 || v > MaxWeight {
			return fmt.Errorf("weight %d outside 0-%d", v, MaxWeight)
		}
	}
	if w.Blue == 0 && w.Green == 0 {
		return fmt.Errorf("weights %s send traffic nowhere", w)
	}
	return nil
}

// Percent returns the share of traffic colour c receives, rounded to the
// nearest whole percent. It is 0 when both weights are 0.
func (w Weights) Percent(c Colour) int {
	total := w.Blue + w.Green
	if total == 0 {
		return 0
	}
	return (w.Of(c)*200 + total) / (2 * total)
}

// Same reports whether w and o split traffic identically (equal ratios).
func (w Weights) Same(o Weights) bool {
	if (w.Blue+w.Green == 0) != (o.Blue+o.Green == 0) {
		return false
	}
	return w.Blue*o.Green == w.Green*o.Blue
}

// Sole returns the colour receiving all of the traffic, if one does.
func (w Weights) Sole() (Colour, bool) {
	switch {
	case w.Blue > 0 && w.Green == 0:
		return Blue, true
	case w.Green > 0 && w.Blue == 0:
		return Green, true
	}
	return "", false
}

// String renders w as "blue=90,green=10", the form used in listener tags
// and logs.
func (w Weights) String() string {
	return "blue=" + strconv.Itoa(w.Blue) + ",green=" + strconv.Itoa(w.Green)
}

// ParseWeights parses the String form.
func ParseWeights(s string) (Weights, error) {
	var w Weights
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || seen[k] || (k != "blue" && k != "green") {
			return Weights{}, fmt.Errorf("weights %q: want blue=N,green=N", s)
		}
		seen[k] = true
		w = w.with(Colour(k), n)
	}
	if len(seen) != 2 {
		return Weights{}, fmt.Errorf("weights %q: want blue=N,green=N", s)
	}
	return w, w.Validate()
}

// UnmarshalJSON accepts only "blue" and "green".
func (c *Colour) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if !Colour(s).Valid() {
		return fmt.Errorf("colour %q: want blue or green", s)
	}
	*c = Colour(s)
	return nil
}
