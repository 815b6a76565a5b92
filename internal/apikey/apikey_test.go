package apikey_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/relayshift/relayshift/internal/apikey"
	"github.com/relayshift/relayshift/internal/deploy"
)

const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:relay/api-key-AbCdEf"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, secret, key string
		code              deploy.Code
	}{
		{"raw", "sk-live-123\n", "sk-live-123", ""},
		{"json", `{"apiKey":"sk-live-123","note":"rotated 2026-11"}`, "sk-live-123", ""},
		{"json without apiKey", `{"api_key":"sk-live-123"}`, "", deploy.InvalidConfig},
		{"json apiKey not a string", `{"apiKey":42}`, "", deploy.InvalidConfig},
		{"broken json", `{"apiKey":"sk-live-123"`, "", deploy.InvalidConfig},
		{"empty", "  ", "", deploy.InvalidConfig},
		{"two lines", "sk-a\nsk-b", "", deploy.InvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := apikey.Parse(tc.secret, "s")
			if key != tc.key || (err == nil) != (tc.code == "") || (err != nil && deploy.CodeOf(err) != tc.code) {
				t.Fatalf("Parse = %q, %v", key, err)
			}
			if err != nil && strings.Contains(err.Error(), "sk-live-123") {
				t.Fatalf("error repeats the secret: %v", err)
			}
		})
	}
}

// TestFetchAgainstAWSShapes runs the SDK against an httptest Secrets
// Manager (awsJson1_1).
func TestFetchAgainstAWSShapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		key    string
		code   deploy.Code
	}{
		{"json secret", 200, `{"ARN":"` + arn + `","Name":"relay/api-key","SecretString":"{\"apiKey\":\"sk-live-123\"}","VersionId":"v1","VersionStages":["AWSCURRENT"],"CreatedDate":1795781380.0}`, "sk-live-123", ""},
		{"binary secret", 200, `{"ARN":"` + arn + `","Name":"relay/api-key","SecretBinary":"c2stbGl2ZS0xMjM="}`, "", deploy.InvalidConfig},
		{"not found", 400, `{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`, "", deploy.InvalidConfig},
		{"access denied", 400, `{"__type":"AccessDeniedException","Message":"not authorized"}`, "", deploy.AccessDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got map[string]any
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
					t.Errorf("target %q", r.Header.Get("X-Amz-Target"))
				}
				b, _ := io.ReadAll(r.Body)
				_ = json.Unmarshal(b, &got)
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			client := secretsmanager.NewFromConfig(aws.Config{
				Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
				BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
			})
			key, err := apikey.Fetch(context.Background(), client, arn)
			if key != tc.key || (err == nil) != (tc.code == "") || (err != nil && deploy.CodeOf(err) != tc.code) {
				t.Fatalf("Fetch = %q, %v", key, err)
			}
			if got["SecretId"] != arn || len(got) != 1 {
				t.Fatalf("request %v", got)
			}
		})
	}
}
