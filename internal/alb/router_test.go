package alb_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"text/template"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/alb"
	"github.com/relayshift/relayshift/internal/deploy"
)

const (
	listenerARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/relay/50dc6c495c0c9188/f2f7dc8efc522ab2"
	blueARN     = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/relay-blue/73e2d6bc24d8a067"
	greenARN    = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/relay-green/a1b2c3d4e5f60718"
	otherARN    = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/legacy/0000000000000000"
)

type group struct {
	ARN    string
	Weight int
}

// fakeELB is an httptest ELBv2 endpoint: it answers each action from a
// queue of canned AWS-shaped responses and records every request's form.
type fakeELB struct {
	t         *testing.T
	mu        sync.Mutex
	responses map[string][]string
	requests  []url.Values
}

func newFakeELB(t *testing.T) (*fakeELB, *elbv2.Client) {
	f := &fakeELB{t: t, responses: map[string][]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := elbv2.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(srv.URL),
		// Retries would consume the canned responses; the adapter's own
		// behaviour is what is under test.
		RetryMaxAttempts: 1,
	})
	return f, c
}

func (f *fakeELB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("Version") != "2015-12-01" {
		f.t.Errorf("not an ELBv2 awsQuery request: %s", body)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, form)
	action := form.Get("Action")
	q := f.responses[action]
	if len(q) == 0 {
		f.t.Errorf("unexpected %s", action)
		w.WriteHeader(500)
		return
	}
	resp := q[0]
	if len(q) > 1 {
		f.responses[action] = q[1:]
	}
	if strings.HasPrefix(resp, "<ErrorResponse") {
		w.WriteHeader(400)
	}
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, resp)
}

func (f *fakeELB) on(action string, bodies ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.responses[action] = append(f.responses[action], bodies...)
}

func (f *fakeELB) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		out = append(out, r.Get("Action"))
	}
	return out
}

func (f *fakeELB) request(action string) url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if r.Get("Action") == action {
			return r
		}
	}
	f.t.Fatalf("no %s request among %d", action, len(f.requests))
	return nil
}

func listeners(t *testing.T, single bool, groups ...group) string {
	t.Helper()
	tmpl := template.Must(template.ParseFiles("testdata/describe-listeners.xml.tmpl"))
	var b bytes.Buffer
	if err := tmpl.Execute(&b, map[string]any{"Single": single, "Groups": groups}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func ok(action string) string {
	return fmt.Sprintf(`<%sResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><%sResult/><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></%sResponse>`, action, action, action)
}

func awsError(code, msg string) string {
	return fmt.Sprintf(`<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>2</RequestId></ErrorResponse>`, code, msg)
}

func newRouter(c *elbv2.Client) *alb.Router {
	r := alb.New(c, alb.Listener{ListenerARN: listenerARN, Blue: blueARN, Green: greenARN})
	r.ReadBackDelay = 0
	return r
}

func TestWeightsReadForwardConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   func(t *testing.T) string
		want   deploy.Weights
		wantEr deploy.Code
	}{
		{"single target group (AWS also returns TargetGroupArn)", func(t *testing.T) string { return listeners(t, true, group{blueARN, 1}) }, deploy.Weights{Blue: 1}, ""},
		{"split", func(t *testing.T) string { return listeners(t, false, group{blueARN, 90}, group{greenARN, 10}) }, deploy.Weights{Blue: 90, Green: 10}, ""},
		{"a foreign target group", func(t *testing.T) string { return listeners(t, false, group{blueARN, 90}, group{otherARN, 10}) }, deploy.Weights{}, deploy.ListenerMisconfigured},
		{"listener not found", func(*testing.T) string { return awsError("ListenerNotFound", "One or more listeners not found") }, deploy.Weights{}, deploy.ListenerNotFound},
		{"throttled", func(*testing.T) string { return awsError("Throttling", "Rate exceeded") }, deploy.Weights{}, deploy.Throttled},
		{"access denied", func(*testing.T) string { return awsError("AccessDenied", "not authorized") }, deploy.Weights{}, deploy.AccessDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c := newFakeELB(t)
			f.on("DescribeListeners", tc.body(t))
			got, err := newRouter(c).Weights(context.Background())
			if tc.wantEr != "" {
				if deploy.CodeOf(err) != tc.wantEr {
					t.Fatalf("error %v, want %s", err, tc.wantEr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %s, %v; want %s", got, err, tc.want)
			}
			if diff := cmp.Diff(url.Values{"Action": {"DescribeListeners"}, "Version": {"2015-12-01"},
				"ListenerArns.member.1": {listenerARN}}, f.request("DescribeListeners")); diff != "" {
				t.Fatalf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSetWeightsWritesTheCompleteActionList asserts the exact ModifyListener
// request: every action kept (the OIDC action with its existing secret),
// the forward action with both target groups, stickiness unchanged, and no
// top-level TargetGroupArn beside a multi-group ForwardConfig.
func TestSetWeightsWritesTheCompleteActionList(t *testing.T) {
	f, c := newFakeELB(t)
	f.on("DescribeListeners", listeners(t, true, group{blueARN, 1}), listeners(t, false, group{blueARN, 90}, group{greenARN, 10}))
	f.on("ModifyListener", ok("ModifyListener"))
	before, err := newRouter(c).SetWeights(context.Background(), deploy.Weights{Blue: 90, Green: 10})
	if err != nil || before != (deploy.Weights{Blue: 1}) {
		t.Fatalf("SetWeights: before %s, %v", before, err)
	}
	if diff := cmp.Diff([]string{"DescribeListeners", "ModifyListener", "DescribeListeners"}, f.actions()); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
	want := url.Values{
		"Action": {"ModifyListener"}, "Version": {"2015-12-01"}, "ListenerArn": {listenerARN},
		"DefaultActions.member.1.Type":                                                      {"authenticate-oidc"},
		"DefaultActions.member.1.Order":                                                     {"1"},
		"DefaultActions.member.1.AuthenticateOidcConfig.Issuer":                             {"https://idp.example.com"},
		"DefaultActions.member.1.AuthenticateOidcConfig.AuthorizationEndpoint":              {"https://idp.example.com/authorize"},
		"DefaultActions.member.1.AuthenticateOidcConfig.TokenEndpoint":                      {"https://idp.example.com/token"},
		"DefaultActions.member.1.AuthenticateOidcConfig.UserInfoEndpoint":                   {"https://idp.example.com/userinfo"},
		"DefaultActions.member.1.AuthenticateOidcConfig.ClientId":                           {"relay-client"},
		"DefaultActions.member.1.AuthenticateOidcConfig.OnUnauthenticatedRequest":           {"authenticate"},
		"DefaultActions.member.1.AuthenticateOidcConfig.UseExistingClientSecret":            {"true"},
		"DefaultActions.member.2.Type":                                                      {"forward"},
		"DefaultActions.member.2.Order":                                                     {"2"},
		"DefaultActions.member.2.ForwardConfig.TargetGroups.member.1.TargetGroupArn":        {blueARN},
		"DefaultActions.member.2.ForwardConfig.TargetGroups.member.1.Weight":                {"90"},
		"DefaultActions.member.2.ForwardConfig.TargetGroups.member.2.TargetGroupArn":        {greenARN},
		"DefaultActions.member.2.ForwardConfig.TargetGroups.member.2.Weight":                {"10"},
		"DefaultActions.member.2.ForwardConfig.TargetGroupStickinessConfig.Enabled":         {"true"},
		"DefaultActions.member.2.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds": {"3600"},
	}
	if diff := cmp.Diff(want, f.request("ModifyListener")); diff != "" {
		t.Fatalf("ModifyListener request (-want +got):\n%s", diff)
	}
}

func TestSetWeightsDiffAndApply(t *testing.T) {
	f, c := newFakeELB(t)
	// {1,0} and {100,0} split traffic identically: nothing to write.
	f.on("DescribeListeners", listeners(t, true, group{blueARN, 1}))
	if _, err := newRouter(c).SetWeights(context.Background(), deploy.Weights{Blue: 100}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"DescribeListeners"}, f.actions()); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
}

func TestSetWeightsReadBack(t *testing.T) {
	t.Run("eventually visible", func(t *testing.T) {
		f, c := newFakeELB(t)
		f.on("DescribeListeners", listeners(t, true, group{blueARN, 1}), listeners(t, true, group{blueARN, 1}),
			listeners(t, false, group{blueARN, 50}, group{greenARN, 50}))
		f.on("ModifyListener", ok("ModifyListener"))
		if _, err := newRouter(c).SetWeights(context.Background(), deploy.Weights{Blue: 50, Green: 50}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("never visible", func(t *testing.T) {
		f, c := newFakeELB(t)
		f.on("DescribeListeners", listeners(t, true, group{blueARN, 1}))
		f.on("ModifyListener", ok("ModifyListener"))
		r := newRouter(c)
		_, err := r.SetWeights(context.Background(), deploy.Weights{Blue: 50, Green: 50})
		if deploy.CodeOf(err) != deploy.WeightNotApplied {
			t.Fatalf("got %v, want WeightNotApplied", err)
		}
		if n := strings.Count(strings.Join(f.actions(), " "), "DescribeListeners"); n != 1+r.ReadBackAttempts {
			t.Fatalf("%d reads, want %d", n, 1+r.ReadBackAttempts)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		f, c := newFakeELB(t)
		f.on("DescribeListeners", listeners(t, true, group{blueARN, 1}))
		f.on("ModifyListener", awsError("ValidationError", "weight out of range"))
		_, err := newRouter(c).SetWeights(context.Background(), deploy.Weights{Blue: 50, Green: 50})
		if deploy.CodeOf(err) != deploy.RequestRejected {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("out of range is refused before any call", func(t *testing.T) {
		f, c := newFakeELB(t)
		_, err := newRouter(c).SetWeights(context.Background(), deploy.Weights{Blue: 1000})
		if deploy.CodeOf(err) != deploy.RequestRejected || len(f.actions()) != 0 {
			t.Fatalf("got %v after %v", err, f.actions())
		}
	})
}

func TestRuleMode(t *testing.T) {
	f, c := newFakeELB(t)
	ruleARN := "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/relay/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
	rules := func(b, g int) string {
		return fmt.Sprintf(`<DescribeRulesResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeRulesResult><Rules><member>
<RuleArn>%s</RuleArn><Priority>10</Priority><IsDefault>false</IsDefault>
<Conditions><member><Field>path-pattern</Field><Values><member>/v1/*</member></Values></member></Conditions>
<Actions><member><Type>forward</Type><ForwardConfig><TargetGroups>
<member><TargetGroupArn>%s</TargetGroupArn><Weight>%d</Weight></member>
<member><TargetGroupArn>%s</TargetGroupArn><Weight>%d</Weight></member>
</TargetGroups></ForwardConfig></member></Actions></member></Rules></DescribeRulesResult></DescribeRulesResponse>`, ruleARN, blueARN, b, greenARN, g)
	}
	f.on("DescribeRules", rules(100, 0), rules(0, 100))
	f.on("ModifyRule", ok("ModifyRule"))
	r := alb.New(c, alb.Listener{ListenerARN: listenerARN, RuleARN: ruleARN, Blue: blueARN, Green: greenARN})
	if _, err := r.SetWeights(context.Background(), deploy.Weights{Green: 100}); err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"Action": {"ModifyRule"}, "Version": {"2015-12-01"}, "RuleArn": {ruleARN},
		"Actions.member.1.Type": {"forward"},
		"Actions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn": {blueARN},
		"Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight":         {"0"},
		"Actions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn": {greenARN},
		"Actions.member.1.ForwardConfig.TargetGroups.member.2.Weight":         {"100"},
	}
	// Conditions are not sent: ModifyRule leaves them as they are.
	if diff := cmp.Diff(want, f.request("ModifyRule")); diff != "" {
		t.Fatalf("ModifyRule request (-want +got):\n%s", diff)
	}
}

func TestHealthSummary(t *testing.T) {
	f, c := newFakeELB(t)
	b, err := os.ReadFile("testdata/describe-target-health.xml")
	if err != nil {
		t.Fatal(err)
	}
	f.on("DescribeTargetHealth", string(b))
	h, err := newRouter(c).Health(context.Background(), deploy.Green)
	if err != nil {
		t.Fatal(err)
	}
	want := deploy.Health{Total: 4, Healthy: 1, Initial: 1, Unhealthy: 1, Draining: 1,
		Reasons: []string{"Elb.InitialHealthChecking", "Target.DeregistrationInProgress", "Target.ResponseCodeMismatch"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Fatalf("health (-want +got):\n%s", diff)
	}
	if got := f.request("DescribeTargetHealth").Get("TargetGroupArn"); got != greenARN {
		t.Fatalf("asked for %s", got)
	}
}

func TestTags(t *testing.T) {
	f, c := newFakeELB(t)
	f.on("AddTags", ok("AddTags"))
	f.on("RemoveTags", ok("RemoveTags"))
	f.on("DescribeTags", `<DescribeTagsResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeTagsResult><TagDescriptions><member>
<ResourceArn>`+listenerARN+`</ResourceArn><Tags>
<member><Key>relayshift:stable</Key><Value>blue</Value></member>
<member><Key>team</Key><Value>ml-platform</Value></member>
</Tags></member></TagDescriptions></DescribeTagsResult></DescribeTagsResponse>`)
	r := newRouter(c)
	if err := r.Tag(context.Background(), map[string]string{"relayshift:stable": "green", "relayshift:version": "v2"}, []string{"relayshift:deployment"}); err != nil {
		t.Fatal(err)
	}
	tags, err := r.Tags(context.Background())
	if err != nil || !cmp.Equal(tags, map[string]string{"relayshift:stable": "blue"}) {
		t.Fatalf("tags %v, %v (only relayshift:* tags are returned)", tags, err)
	}
	if diff := cmp.Diff(url.Values{"Action": {"AddTags"}, "Version": {"2015-12-01"}, "ResourceArns.member.1": {listenerARN},
		"Tags.member.1.Key": {"relayshift:stable"}, "Tags.member.1.Value": {"green"},
		"Tags.member.2.Key": {"relayshift:version"}, "Tags.member.2.Value": {"v2"}}, f.request("AddTags")); diff != "" {
		t.Fatalf("AddTags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(url.Values{"Action": {"RemoveTags"}, "Version": {"2015-12-01"}, "ResourceArns.member.1": {listenerARN},
		"TagKeys.member.1": {"relayshift:deployment"}}, f.request("RemoveTags")); diff != "" {
		t.Fatalf("RemoveTags (-want +got):\n%s", diff)
	}
}
