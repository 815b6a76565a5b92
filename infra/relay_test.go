package infra_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/functions"
	"github.com/relayshift/relayshift/internal/lab/stack"
	"github.com/relayshift/relayshift/internal/samtemplate"
)

// The test route of infra/relay.yaml, as template.yaml's TestHeader is
// documented to reach it.
const (
	testRouteHeader = "x-relayshift-colour"
	// documentedTestHeader is the TestHeader both templates tell people
	// to set.
	documentedTestHeader = testRouteHeader + ": {colour}.<TestRouteKey>"
	sampleTestRouteKey   = "0123456789abcdefABCDEF"
	// maxHeaderConditionValue is the longest value an ALB http-header
	// condition accepts (CloudFormation ListenerRule HttpHeaderConfig).
	maxHeaderConditionValue = 128
)

// probingFunctions reach the candidate through the test route.
var probingFunctions = []string{"HealthCheckFunction", "WarmUpFunction"}

// checkRelay: infra/relay.yaml's test route lets relayshift's probes reach
// the candidate colour, and nobody without the key reach either colour:
//   - the probing functions run outside any VPC (template.yaml gives them no
//     VpcConfig), so they reach the internet-facing load balancer from AWS
//     public addresses: the test listener's ingress must admit any address
//     by default;
//   - the test listener's default action forwards nowhere;
//   - exactly one rule per colour forwards to that colour's target group,
//     and each requires x-relayshift-colour to be "<colour>.<TestRouteKey>";
//   - TestRouteKey is NoEcho, at least 16 characters (the comparison
//     ignores case), short enough for a condition value, and its pattern
//     admits only letters and digits (no ALB wildcard * or ?);
//   - the header the functions send for the documented TestHeader is the
//     one the candidate's rule matches, and both templates document it.
func checkRelay(t *testing.T, a artefacts) error {
	relay, err := samtemplate.Load(a.path(relayFile))
	if err != nil {
		t.Fatal(err)
	}
	sam := loadTemplate(t, a)
	var errs []error
	params := map[string]string{"TestRouteKey": sampleTestRouteKey}
	for name, p := range relay.Parameters {
		if p.Default != nil {
			params[name] = *p.Default
		}
	}
	// Intrinsics resolve as in a deployed stack (the lab's resolver).
	resolve := (&stack.Stack{T: relay, Params: params, Region: "eu-west-1", AccountID: "123456789012", StackName: "relay"}).Resolve

	// Who may connect.
	if inVPC := vpcFunctions(sam); len(inVPC) < len(probingFunctions) {
		ingress, found := testIngress(relay)
		if !found {
			errs = append(errs, fmt.Errorf("%s: no security group ingress on the TestListenerPort", relayFile))
		}
		for _, r := range ingress {
			cidr, err := resolve(samtemplate.Path(r, "CidrIp"))
			if err != nil || cidr != "0.0.0.0/0" {
				errs = append(errs, fmt.Errorf("%s: the test listener admits %v (%v) by default, but %s run outside any VPC and reach it from AWS public addresses: admit 0.0.0.0/0 (TestRouteKey guards the route)",
					relayFile, cidr, err, strings.Join(slices.DeleteFunc(slices.Clone(probingFunctions), func(f string) bool { return slices.Contains(inVPC, f) }), " and ")))
			}
		}
	}

	// The key.
	key, ok := relay.Parameters["TestRouteKey"]
	if !ok {
		errs = append(errs, fmt.Errorf("%s: no TestRouteKey parameter", relayFile))
	} else {
		errs = append(errs, checkRouteKey(key)...)
	}

	// The listener and its rules.
	listener := ""
	for _, r := range relay.OfType("AWS::ElasticLoadBalancingV2::Listener") {
		if samtemplate.Path(r.Properties, "Port", "Ref") == "TestListenerPort" {
			listener = r.LogicalID
			actions, _ := r.Properties["DefaultActions"].([]any)
			for _, act := range actions {
				if typ := samtemplate.Path(act, "Type"); typ != "fixed-response" {
					errs = append(errs, fmt.Errorf("%s: %s's default action is %v: without the key a request must reach no colour", relayFile, r.LogicalID, typ))
				}
			}
		}
	}
	if listener == "" {
		return joinErrs(append(errs, fmt.Errorf("%s: no listener on the TestListenerPort", relayFile)))
	}
	colourOf := map[string]string{}
	for _, r := range relay.OfType("AWS::ElasticLoadBalancingV2::TargetGroup") {
		tags, _ := r.Properties["Tags"].([]any)
		for _, tag := range tags {
			if samtemplate.Path(tag, "Key") == "relayshift:colour" {
				colourOf[r.LogicalID] = fmt.Sprint(samtemplate.Path(tag, "Value"))
			}
		}
	}
	rulesOf := map[string][]string{}
	for _, r := range relay.OfType("AWS::ElasticLoadBalancingV2::ListenerRule") {
		if samtemplate.Path(r.Properties, "ListenerArn", "Ref") != listener {
			continue
		}
		colour, err := forwardColour(r, colourOf)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %v", relayFile, r.LogicalID, err))
			continue
		}
		rulesOf[colour] = append(rulesOf[colour], r.LogicalID)
		if err := requiresKey(r, colour, params, resolve); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s forwards to %s %v", relayFile, r.LogicalID, colour, err))
		}
	}
	for _, c := range []deploy.Colour{deploy.Blue, deploy.Green} {
		if n := len(rulesOf[string(c)]); n != 1 {
			errs = append(errs, fmt.Errorf("%s: %d test listener rules forward to %s, want 1", relayFile, n, c))
		}
	}

	// What the functions send.
	header := strings.Replace(documentedTestHeader, "<TestRouteKey>", sampleTestRouteKey, 1)
	cfg, err := functions.LoadConfig(func(k string) (string, bool) {
		v, ok := map[string]string{functions.EnvTestURL: "http://relay-123.eu-west-1.elb.amazonaws.com:8443", functions.EnvTestHeader: header}[k]
		return v, ok
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("the documented TestHeader %q: %v", header, err))
	} else {
		for _, c := range []deploy.Colour{deploy.Blue, deploy.Green} {
			route := cfg.Candidate.TestRoute(c)
			if want := string(c) + "." + sampleTestRouteKey; !strings.EqualFold(route.HeaderName, testRouteHeader) || route.HeaderValue != want {
				errs = append(errs, fmt.Errorf("for candidate %s the functions send %s: %s, want %s: %s", c, route.HeaderName, route.HeaderValue, testRouteHeader, want))
			}
		}
	}
	if d := fmt.Sprint(samtemplate.Path(relay.Outputs["TestListenerUrl"], "Description")); !strings.Contains(d, documentedTestHeader) {
		errs = append(errs, fmt.Errorf("%s: output TestListenerUrl does not document TestHeader %q", relayFile, documentedTestHeader))
	}
	if d := sam.Parameters["TestHeader"].Description; !strings.Contains(d, documentedTestHeader) {
		errs = append(errs, fmt.Errorf("%s: parameter TestHeader does not document %q for %s", templateFile, documentedTestHeader, relayFile))
	}
	if !sam.Parameters["TestHeader"].NoEcho {
		errs = append(errs, fmt.Errorf("%s: parameter TestHeader carries the test route's key: it must be NoEcho", templateFile))
	}
	return joinErrs(errs)
}

// vpcFunctions returns the probing functions that run in a VPC (their own
// or the Globals' VpcConfig).
func vpcFunctions(sam *samtemplate.Template) []string {
	var out []string
	for _, id := range probingFunctions {
		if samtemplate.Path(sam.Resources[id].Properties, "VpcConfig") != nil || samtemplate.Path(sam.Globals, "Function", "VpcConfig") != nil {
			out = append(out, id)
		}
	}
	return out
}

// testIngress returns the security group ingress rules of the test
// listener's port.
func testIngress(relay *samtemplate.Template) ([]any, bool) {
	var out []any
	for _, sg := range relay.OfType("AWS::EC2::SecurityGroup") {
		rules, _ := sg.Properties["SecurityGroupIngress"].([]any)
		for _, r := range rules {
			if samtemplate.Path(r, "FromPort", "Ref") == "TestListenerPort" {
				out = append(out, r)
			}
		}
	}
	return out, len(out) > 0
}

// checkRouteKey checks the TestRouteKey parameter.
func checkRouteKey(p samtemplate.Parameter) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: TestRouteKey: %s", relayFile, fmt.Sprintf(format, args...)))
	}
	if !p.NoEcho {
		bad("must be NoEcho (it is the secret of the test route)")
	}
	if p.MinLength == nil || *p.MinLength < 16 {
		bad("MinLength %v, want at least 16", show(p.MinLength))
	}
	if p.MaxLength == nil || *p.MaxLength+len("green.") > maxHeaderConditionValue {
		bad("MaxLength %v: \"green.\" + key must fit the %d characters of a header condition value", show(p.MaxLength), maxHeaderConditionValue)
	}
	pattern := p.AllowedPattern
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if pattern == "" || err != nil {
		bad("AllowedPattern %q (%v): want letters and digits only", pattern, err)
		return errs
	}
	if !re.MatchString(sampleTestRouteKey) {
		bad("AllowedPattern %q rejects the key %q", pattern, sampleTestRouteKey)
	}
	for _, k := range []string{"0123456789abcde*", "0123456789abcde?", "0123456789abc.ef", "0123456789abc ef", "0123456789abc,ef"} {
		if re.MatchString(k) {
			bad("AllowedPattern %q admits %q: a key must be letters and digits (an ALB condition value treats * and ? as wildcards)", pattern, k)
		}
	}
	return errs
}

func show(n *int) any {
	if n == nil {
		return "unset"
	}
	return *n
}

// forwardColour returns the colour of the one target group rule r forwards
// to.
func forwardColour(r samtemplate.Resource, colourOf map[string]string) (string, error) {
	actions, _ := r.Properties["Actions"].([]any)
	if len(actions) != 1 || samtemplate.Path(actions[0], "Type") != "forward" {
		return "", fmt.Errorf("want one forward action, have %v", actions)
	}
	tg, _ := samtemplate.Path(actions[0], "TargetGroupArn", "Ref").(string)
	if c := colourOf[tg]; c != "" {
		return c, nil
	}
	return "", fmt.Errorf("forwards to %v, not to one colour's target group (tagged relayshift:colour)", samtemplate.Path(actions[0], "TargetGroupArn"))
}

// requiresKey checks that rule r matches only the header
// x-relayshift-colour: <colour>.<TestRouteKey>.
func requiresKey(r samtemplate.Resource, colour string, params map[string]string, resolve func(any) (any, error)) error {
	want := colour + "." + params["TestRouteKey"]
	conds, _ := r.Properties["Conditions"].([]any)
	for _, c := range conds {
		name, _ := samtemplate.Path(c, "HttpHeaderConfig", "HttpHeaderName").(string)
		if samtemplate.Path(c, "Field") != "http-header" || !strings.EqualFold(name, testRouteHeader) {
			continue
		}
		values, err := resolve(samtemplate.Path(c, "HttpHeaderConfig", "Values"))
		if err != nil {
			return fmt.Errorf("on header values it cannot evaluate: %v", err)
		}
		if list, _ := values.([]any); len(list) == 1 && list[0] == want {
			return nil
		}
		return fmt.Errorf("on %s: %v, want only %q (the colour, a dot and TestRouteKey): without the key anyone who guesses the header reaches it", testRouteHeader, values, colour+".${TestRouteKey}")
	}
	return fmt.Errorf("without a %s condition", testRouteHeader)
}
