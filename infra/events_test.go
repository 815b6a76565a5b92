package infra_test

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/relayshift/relayshift/internal/alarmevent"
	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/functions"
)

// eventFunctions maps an events/ file name prefix (events/<prefix>[-<scenario>].json)
// to the function whose input it is.
var eventFunctions = map[string]string{
	"preflight":   "PreflightFunction",
	"release":     "ReleaseFunction",
	"healthcheck": "HealthCheckFunction",
	"warmup":      "WarmUpFunction",
	"shift":       "ShiftFunction",
	"evaluate":    "EvaluateFunction",
	"finalize":    "FinalizeFunction",
	"rollback":    "RollbackFunction",
}

// alarmInputs are the rollback function's other inputs: the EventBridge
// alarm state-change event (events/rollback-alarm-*.json) and a CloudWatch
// alarm's direct Lambda action (events/rollback-alarm-action*.json).
func alarmInput(name string, b []byte) error {
	if strings.HasPrefix(name, "rollback-alarm-action") {
		var p alarmevent.ActionPayload
		if err := deploy.DecodeStrict(b, &p); err != nil {
			return fmt.Errorf("%s does not decode into %T: %v", name, p, err)
		}
		return p.Change().Validate()
	}
	var e alarmevent.Event
	if err := deploy.DecodeStrict(b, &e); err != nil {
		return fmt.Errorf("%s does not decode into %T: %v", name, e, err)
	}
	if e.Source != alarmevent.Source || e.DetailType != alarmevent.DetailTypeStateChange {
		return fmt.Errorf("%s: source %q, detail-type %q: not a CloudWatch alarm state change", name, e.Source, e.DetailType)
	}
	return e.Change().Validate()
}

// checkEvents: every events/ file decodes strictly into its function's input
// type and passes the function's own validation; start-deployment.json is a
// valid execution input; env.json sets only variables the template declares
// for each function (sam local invoke --env-vars overrides nothing else)
// and yields a valid configuration; every function has a sample.
func checkEvents(t *testing.T, a artefacts) error {
	tmpl := loadTemplate(t, a)
	entries, err := os.ReadDir(a.path(eventsDir))
	if err != nil {
		return err
	}
	var errs []error
	sampled := map[string]bool{}
	sawEnv, sawStart := false, false
	for _, e := range entries {
		name := e.Name()
		b, err := os.ReadFile(a.path(eventsDir + "/" + name))
		if err != nil {
			return err
		}
		switch {
		case name == "start-deployment.json":
			sawStart = true
			var req deploy.Request
			if err := deploy.DecodeStrict(b, &req); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", name, err))
			} else if err := req.Validate(true); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", name, err))
			}
		case name == "env.json":
			sawEnv = true
			errs = append(errs, checkEnvFile(tmpl.FunctionEnvironment, b)...)
		case strings.HasPrefix(name, "rollback-alarm-"):
			sampled["RollbackFunction"] = true
			if err := alarmInput(name, b); err != nil {
				errs = append(errs, err)
			}
		case strings.HasSuffix(name, ".json"):
			prefix, _, _ := strings.Cut(strings.TrimSuffix(name, ".json"), "-")
			id, ok := eventFunctions[prefix]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: no function for events named %s-*.json", name, prefix))
				continue
			}
			c, ok := contracts[id]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: no Go payload types for %s", name, id))
				continue
			}
			sampled[id] = true
			in := reflect.New(reflect.TypeOf(c.in)).Interface()
			if err := deploy.DecodeStrict(b, in); err != nil {
				errs = append(errs, fmt.Errorf("%s does not decode into %T: %v", name, c.in, err))
				continue
			}
			if c.validate != nil {
				if err := c.validate(in); err != nil {
					errs = append(errs, fmt.Errorf("%s: %v", name, err))
				}
			}
		default:
			errs = append(errs, fmt.Errorf("%s: only JSON samples belong in events/", name))
		}
	}
	if !sawEnv || !sawStart {
		errs = append(errs, fmt.Errorf("events/ needs env.json (sam local --env-vars) and start-deployment.json (the execution input)"))
	}
	for _, f := range functions.All() {
		if !sampled[f.LogicalID] {
			errs = append(errs, fmt.Errorf("events/ has no sample input for %s", f.LogicalID))
		}
	}
	return joinErrs(errs)
}

// checkEnvFile checks a sam local --env-vars file.
func checkEnvFile(declared func(string) map[string]any, b []byte) []error {
	var env map[string]map[string]string
	if err := deploy.DecodeStrict(b, &env); err != nil {
		return []error{fmt.Errorf("env.json: %v", err)}
	}
	var errs []error
	for _, f := range functions.All() {
		vars, ok := env[f.LogicalID]
		if !ok {
			errs = append(errs, fmt.Errorf("env.json has no variables for %s", f.LogicalID))
			continue
		}
		decl := declared(f.LogicalID)
		for _, k := range slices.Sorted(maps.Keys(vars)) {
			if _, ok := decl[k]; !ok {
				errs = append(errs, fmt.Errorf("env.json: %s sets %s, which the template does not declare for it (sam local ignores it)", f.LogicalID, k))
			}
		}
		if _, err := functions.LoadConfig(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }); err != nil {
			errs = append(errs, fmt.Errorf("env.json: %s: %v", f.LogicalID, err))
		}
	}
	for k := range env {
		if _, ok := functions.Lookup(lookupName(k)); !ok {
			errs = append(errs, fmt.Errorf("env.json: %s is not a function of the template", k))
		}
	}
	return errs
}

func lookupName(logicalID string) string {
	for _, f := range functions.All() {
		if f.LogicalID == logicalID {
			return f.Name
		}
	}
	return ""
}
