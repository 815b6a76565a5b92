package deploy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func decodeRequest(t *testing.T, s string) (Request, error) {
	t.Helper()
	var r Request
	err := DecodeStrict([]byte(s), &r)
	return r, err
}

func TestRequestDecodingIsStrict(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"unknown field", `{"version":"v1","colour":"green"}`, `unknown field "colour"`},
		{"unknown field in custom strategy", `{"version":"v1","strategy":{"steps":[100],"bakeSeconds":0,"x":1}}`, `unknown field "x"`},
		{"trailing data", `{"version":"v1"} {}`, "after the JSON value"},
		{"empty", ``, "empty JSON document"},
		{"wrong type", `{"version":1}`, "cannot unmarshal number"},
		{"unknown preset", `{"version":"v1","strategy":"Canary99Percent"}`, `unknown strategy "Canary99Percent"`},
		{"steps not ending at 100", `{"version":"v1","strategy":{"steps":[10,50],"bakeSeconds":60}}`, "must end at 100"},
		{"steps not rising", `{"version":"v1","strategy":{"steps":[50,10,100],"bakeSeconds":60}}`, "rise strictly"},
		{"custom without bake", `{"version":"v1","strategy":{"steps":[100]}}`, `needs "steps" and "bakeSeconds"`},
		{"negative bake", `{"version":"v1","strategy":{"steps":[100],"bakeSeconds":-1}}`, "bakeSeconds -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRequest(t, tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestRequestValidate(t *testing.T) {
	bake := func(n int) *int { return &n }
	for _, tc := range []struct {
		name          string
		req           Request
		imageRequired bool
		want          string // "" = valid
	}{
		{"minimal", Request{Version: "v1"}, false, ""},
		{"full", Request{Version: "v2.4.0+build.7", Image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/relay:v2.4.0", Commit: "9f1c2ab", PostPromotionBakeSeconds: bake(0)}, true, ""},
		{"image digest", Request{Version: "v1", Image: "ghcr.io/acme/relay@sha256:abcd"}, true, ""},
		{"missing version", Request{}, false, `"version" is required`},
		{"version with space", Request{Version: "v 1"}, false, "version"},
		{"version too long", Request{Version: strings.Repeat("a", 65)}, false, "version"},
		{"image required in ecs mode", Request{Version: "v1"}, true, `"image" is required`},
		{"image with whitespace", Request{Version: "v1", Image: "relay :v1"}, false, "not a container image"},
		{"commit with slash", Request{Version: "v1", Commit: "a/b"}, false, "commit"},
		{"bake too long", Request{Version: "v1", PostPromotionBakeSeconds: bake(MaxBakeSeconds + 1)}, false, "postPromotionBakeSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate(tc.imageRequired)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || CodeOf(err) != InvalidInput {
				t.Fatalf("error = %v (code %s), want InvalidInput containing %q", err, CodeOf(err), tc.want)
			}
		})
	}
}

func TestPresetPlans(t *testing.T) {
	steps := func(bake, post int, pcts ...int) []Step {
		var out []Step
		for _, p := range pcts {
			out = append(out, Step{Percent: p, BakeSeconds: bake})
		}
		out[len(out)-1].BakeSeconds = post
		return out
	}
	for _, tc := range []struct {
		name string
		want []Step
	}{
		{AllAtOnce, steps(0, 300, 100)},
		{Canary10Percent5Minutes, steps(300, 300, 10, 100)},
		{Canary10Percent15Minutes, steps(900, 300, 10, 100)},
		{Linear10PercentEvery1Minute, steps(60, 300, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)},
		{Linear10PercentEvery3Minutes, steps(180, 300, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := decodeRequest(t, `{"version":"v1","strategy":"`+tc.name+`"}`)
			if err != nil {
				t.Fatal(err)
			}
			p, err := r.Plan(Strategy{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(Plan{Strategy: tc.name, Steps: tc.want}, p); diff != "" {
				t.Fatalf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCustomPlanAndDefault(t *testing.T) {
	r, err := decodeRequest(t, `{"version":"v1","strategy":{"steps":[5,25,50,100],"bakeSeconds":120},"postPromotionBakeSeconds":30}`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Plan(Strategy{})
	if err != nil {
		t.Fatal(err)
	}
	want := Plan{Strategy: Custom, Steps: []Step{{5, 120}, {25, 120}, {50, 120}, {100, 30}}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	def, _ := ParseStrategy(AllAtOnce)
	p, err = Request{Version: "v1"}.Plan(def)
	if err != nil || p.Strategy != AllAtOnce || len(p.Steps) != 1 {
		t.Fatalf("default strategy not used: %+v, %v", p, err)
	}
}

func TestStrategyJSONRoundTrip(t *testing.T) {
	for _, in := range []string{`"Canary10Percent5Minutes"`, `{"steps":[5,100],"bakeSeconds":10}`} {
		var s Strategy
		if err := DecodeStrict([]byte(in), &s); err != nil {
			t.Fatal(err)
		}
		out, err := s.MarshalJSON()
		if err != nil || string(out) != in {
			t.Fatalf("round trip of %s gave %s, %v", in, out, err)
		}
	}
}

func TestDeploymentID(t *testing.T) {
	for _, tc := range []struct{ service, version, commit, want string }{
		{"relay", "v2.4.0", "9f1c2ab", "relay-v2.4.0-9f1c2ab"},
		{"relay", "v2", "", "relay-v2"},
		{"relay", "v2", "0123456789abcdef0123456789abcdef01234567", "relay-v2-0123456789ab"},
		{"relay", "v2+build", "x", "relay-v2+build-x"},
	} {
		if got := DeploymentID(tc.service, tc.version, tc.commit); got != tc.want {
			t.Errorf("DeploymentID(%q, %q, %q) = %q, want %q", tc.service, tc.version, tc.commit, got, tc.want)
		}
	}
	long := DeploymentID("relay", strings.Repeat("v", 64), "abc")
	if len(long) > 80 {
		t.Fatalf("id longer than 80: %d", len(long))
	}
	if long == DeploymentID("relay", strings.Repeat("v", 64), "abd") {
		t.Fatal("shortened ids of different commits collide")
	}
}
