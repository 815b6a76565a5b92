package infra_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relayshift/relayshift/internal/deploy"
	"github.com/relayshift/relayshift/internal/samtemplate"
)

// The artefacts, relative to the repository root.
const (
	templateFile  = "template.yaml"
	relayFile     = "infra/relay.yaml"
	aslFile       = "infra/statemachine/deploy.asl.json"
	scenariosFile = "infra/statemachine/scenarios.json"
	runnerFile    = "infra/statemachine/run-scenarios.mjs"
	eventsDir     = "events"
)

// artefacts is a directory laid out like the repository: the real one, or a
// temporary copy holding a deliberately broken artefact.
type artefacts string

func (a artefacts) path(rel string) string { return filepath.Join(string(a), filepath.FromSlash(rel)) }

// repoRoot is the repository (the parent of infra/, where go test runs).
func repoRoot(t *testing.T) artefacts {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return artefacts(filepath.Dir(wd))
}

// check is one validity check of the artefacts. It returns every problem
// it finds as one error, or nil.
type check func(t *testing.T, a artefacts) error

// checks are run on the real artefacts (TestArtefacts) and on each broken
// copy (TestBrokenArtefactsFail).
var checks = map[string]check{
	"cfn-lint":      checkCfnLint,
	"asl-validator": checkASLValidator,
	"substitutions": checkSubstitutions,
	"error-names":   checkErrorNames,
	"contracts":     checkContracts,
	"iam":           checkIAM,
	"events":        checkEvents,
	"scenarios":     checkScenarios,
	"alarms":        checkAlarms,
	"configuration": checkConfiguration,
	"relay":         checkRelay,
}

func TestArtefacts(t *testing.T) {
	root := repoRoot(t)
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		t.Run(name, func(t *testing.T) {
			if err := checks[name](t, root); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// brokenFixture is a deliberately broken copy of one artefact: the patch
// replaces Old (which must occur exactly once) with New, and Check must then
// fail with an error containing Want.
type brokenFixture struct {
	Why      string `json:"why"`
	Artefact string `json:"artefact"`
	Old      string `json:"old"`
	New      string `json:"new"`
	Check    string `json:"check"`
	Want     string `json:"want"`
}

func TestBrokenArtefactsFail(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join("testdata", "broken", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no broken fixtures in testdata/broken (%v)", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			var f brokenFixture
			decodeFile(t, file, &f)
			run, ok := checks[f.Check]
			if !ok {
				t.Fatalf("unknown check %q", f.Check)
			}
			copyDir := brokenCopy(t, root, f)
			err := run(t, copyDir)
			if err == nil {
				t.Fatalf("check %s passed on a copy where %s (%s)", f.Check, f.Why, f.Artefact)
			}
			if !strings.Contains(err.Error(), f.Want) {
				t.Fatalf("check %s failed, but without %q:\n%v", f.Check, f.Want, err)
			}
			t.Logf("%s fails as it should: %s", f.Check, firstLine(err.Error(), f.Want))
		})
	}
}

func TestEveryCheckHasABrokenFixture(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "broken", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, file := range files {
		var f brokenFixture
		decodeFile(t, file, &f)
		covered[f.Check] = true
	}
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		if !covered[name] {
			t.Errorf("check %s has no broken fixture in testdata/broken proving it can fail", name)
		}
	}
}

// brokenCopy copies the artefacts to a temporary directory and applies the
// fixture's patch.
func brokenCopy(t *testing.T, root artefacts, f brokenFixture) artefacts {
	t.Helper()
	dir := artefacts(t.TempDir())
	rels := []string{templateFile, relayFile, aslFile, scenariosFile, "README.md", "Makefile"}
	goFiles, err := filepath.Glob(root.path("internal/functions/*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range goFiles {
		rels = append(rels, "internal/functions/"+filepath.Base(f))
	}
	for _, rel := range rels {
		copyFile(t, root.path(rel), dir.path(rel))
	}
	entries, err := os.ReadDir(root.path(eventsDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		copyFile(t, root.path(eventsDir+"/"+e.Name()), dir.path(eventsDir+"/"+e.Name()))
	}
	target := dir.path(f.Artefact)
	b, err := os.ReadFile(target)
	if err != nil {
		t.Fatalf("fixture artefact: %v", err)
	}
	if n := strings.Count(string(b), f.Old); n != 1 {
		t.Fatalf("fixture: %q occurs %d times in %s, want exactly once (the artefact changed: update the fixture)", f.Old, n, f.Artefact)
	}
	if err := os.WriteFile(target, []byte(strings.Replace(string(b), f.Old, f.New, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func firstLine(s, containing string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, containing) {
			return strings.TrimSpace(l)
		}
	}
	return s
}

func decodeFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := deploy.DecodeStrict(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// ---------------------------------------------------------------- tools

// tool returns the path of an executable, failing the test loudly when it
// is missing: these tiers never skip.
func tool(t *testing.T, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not on PATH: %s", name, hint)
	}
	return p
}

// nodeModules checks that npm ci has installed the pinned packages from the
// committed lockfile and that they are not older than it.
func nodeModules(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	tool(t, "node", "the definition tier runs asl-validator and aws-local-stepfunctions on Node.js >= 20 (install nodejs)")
	lock, err := os.Stat(root.path("package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	installed, err := os.Stat(root.path("node_modules/.package-lock.json"))
	if err != nil || installed.ModTime().Before(lock.ModTime()) {
		t.Fatalf("node_modules is missing or older than package-lock.json: run `npm ci` (make test does it)")
	}
	return root.path("node_modules")
}

func run(t *testing.T, dir string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return out.String(), err
}

// ---------------------------------------------------------------- loaders

func loadTemplate(t *testing.T, a artefacts) *samtemplate.Template {
	t.Helper()
	tmpl, err := samtemplate.Load(a.path(templateFile))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// asl is the part of the state machine definition the checks read.
type asl struct {
	StartAt string              `json:"StartAt"`
	States  map[string]aslState `json:"States"`
}

type aslState struct {
	Type           string         `json:"Type"`
	Resource       string         `json:"Resource"`
	Parameters     map[string]any `json:"Parameters"`
	ResultSelector map[string]any `json:"ResultSelector"`
	ResultPath     *string        `json:"ResultPath"`
	Retry          []struct {
		ErrorEquals []string `json:"ErrorEquals"`
	} `json:"Retry"`
	Catch []struct {
		ErrorEquals []string `json:"ErrorEquals"`
		ResultPath  string   `json:"ResultPath"`
		Next        string   `json:"Next"`
	} `json:"Catch"`
	Error string `json:"Error"`
	Next  string `json:"Next"`
}

func loadASL(t *testing.T, a artefacts) (asl, string) {
	t.Helper()
	b, err := os.ReadFile(a.path(aslFile))
	if err != nil {
		t.Fatal(err)
	}
	var d asl
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", aslFile, err)
	}
	return d, string(b)
}

// tasks returns the Task state names, sorted.
func (d asl) tasks() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(d.States)) {
		if d.States[name].Type == "Task" {
			out = append(out, name)
		}
	}
	return out
}

// functionOf returns the template logical id a Task invokes, from its
// FunctionName "${<LogicalId>Arn}" and the template's substitutions.
func functionOf(tmpl *samtemplate.Template, s aslState) (string, error) {
	fn, _ := s.Parameters["FunctionName"].(string)
	m := regexp.MustCompile(`^\$\{([A-Za-z0-9]+)\}$`).FindStringSubmatch(fn)
	if m == nil {
		return "", fmt.Errorf("FunctionName %q is not a single ${Substitution}", fn)
	}
	subs := samtemplate.Path(stateMachine(tmpl).Properties, "DefinitionSubstitutions")
	v := samtemplate.Path(subs, m[1], "Fn::GetAtt")
	ga, ok := v.([]any)
	if !ok || len(ga) != 2 || ga[1] != "Arn" {
		return "", fmt.Errorf("substitution %s is not !GetAtt <Function>.Arn", m[1])
	}
	id, _ := ga[0].(string)
	if tmpl.Resources[id].Type != "AWS::Serverless::Function" {
		return "", fmt.Errorf("substitution %s names %s, which is not a function of the template", m[1], id)
	}
	return id, nil
}

func stateMachine(tmpl *samtemplate.Template) samtemplate.Resource {
	sms := tmpl.OfType("AWS::Serverless::StateMachine")
	if len(sms) != 1 {
		return samtemplate.Resource{}
	}
	return sms[0]
}

// fieldsOf returns the JSON field names of a struct value.
func fieldsOf(v any) []string {
	var out []string
	typ := reflect.TypeOf(v)
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}
