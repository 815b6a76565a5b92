package apikey

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/relayshift/relayshift/internal/awserr"
	"github.com/relayshift/relayshift/internal/deploy"
)

// API lists the Secrets Manager call the package makes, with the SDK's
// signature.
type API interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// ReadActions are needed by Fetch.
//
// NOTE: a secret encrypted with a customer managed KMS key also needs
// kms:Decrypt on that key (Secrets Manager: "Permissions for
// GetSecretValue"); the AWS managed key aws/secretsmanager needs nothing
// more.
func ReadActions() []string {
	return []string{"secretsmanager:GetSecretValue"}
}

// Fetch returns the API key held by the secret secretARN: its SecretString
// is either the raw key or a JSON object with an "apiKey" field.
// Errors: InvalidConfig (the secret holds no usable key), and the
// classified AWS errors (AccessDenied, Throttled, InvalidConfig for a
// missing secret).
func Fetch(ctx context.Context, api API, secretARN string) (string, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretARN)})
	if err != nil {
		return "", classify("get secret value of "+secretARN, err)
	}
	if out.SecretString == nil {
		return "", deploy.Errorf(deploy.InvalidConfig, "secret %s has no SecretString (a binary secret cannot hold the API key)", secretARN)
	}
	return Parse(*out.SecretString, secretARN)
}

// Parse extracts the key from a SecretString. name only labels errors.
func Parse(secret, name string) (string, error) {
	s := strings.TrimSpace(secret)
	if strings.HasPrefix(s, "{") {
		var obj map[string]json.RawMessage
		// The decoder's error could quote part of the secret: it is
		// never included.
		if json.Unmarshal([]byte(s), &obj) != nil {
			return "", deploy.Errorf(deploy.InvalidConfig, "secret %s looks like JSON but does not parse", name)
		}
		raw, ok := obj["apiKey"]
		var key string
		if !ok || json.Unmarshal(raw, &key) != nil {
			return "", deploy.Errorf(deploy.InvalidConfig, `secret %s is a JSON object without a string "apiKey" field`, name)
		}
		s = strings.TrimSpace(key)
	}
	if s == "" {
		return "", deploy.Errorf(deploy.InvalidConfig, "secret %s holds an empty API key", name)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", deploy.Errorf(deploy.InvalidConfig, "secret %s holds an API key with a line break", name)
	}
	return s, nil
}

func classify(op string, err error) error {
	return awserr.Classify(op, err, func(code string) deploy.Code {
		switch code {
		case "ResourceNotFoundException", "InvalidRequestException", "InvalidParameterException", "DecryptionFailure":
			return deploy.InvalidConfig
		}
		return ""
	})
}
