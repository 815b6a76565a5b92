package bench

import (
	"os"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The init time is the runtime's own INIT REPORT (the init phase), not the
// REPORT line's "Init Duration", which aws-lambda-rie does not measure
// (0.12 ms here, for a 14 ms init).
func TestParseInitReport(t *testing.T) {
	logs, err := os.ReadFile("testdata/rie-cold-start.log")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseInitReport(string(logs))
	if err != nil || got != 14.08 {
		t.Errorf("init %v ms (%v), want 14.08", got, err)
	}
	if _, err := parseInitReport("START RequestId: x\nEND RequestId: x\n"); err == nil {
		t.Error("no error for a log without INIT REPORT")
	}
}

func TestFunctionEnvReplacesTheCallersAWSSettings(t *testing.T) {
	base := []string{"PATH=/usr/bin", "HOME=/root", "AWS_PROFILE=prod", "AWS_REGION=eu-west-1", "RELAYSHIFT_LISTENER_ARN=arn:prod"}
	fn := map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_REGION": "us-east-1", "RELAYSHIFT_LISTENER_ARN": "arn:lab"}
	got := functionEnv(base, fn, "relayshift-RollbackFunction", 128, 30)
	want := []string{
		"PATH=/usr/bin", "HOME=/root",
		"AWS_ENDPOINT_URL=http://127.0.0.1:4566", "AWS_REGION=us-east-1", "RELAYSHIFT_LISTENER_ARN=arn:lab",
		"AWS_LAMBDA_FUNCTION_NAME=relayshift-RollbackFunction", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "AWS_LAMBDA_FUNCTION_TIMEOUT=30",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
}

func TestCheckARM64RefusesAHostBinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOARCH != "arm64" {
		if err := checkARM64(self); err == nil {
			t.Errorf("%s (%s) passed as linux/arm64", self, runtime.GOARCH)
		}
	}
	if err := checkARM64("testdata/rie-cold-start.log"); err == nil {
		t.Error("a text file passed as linux/arm64")
	}
}
