package awsapi

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/relayshift/relayshift/internal/lab/uuid"
)

// Secret is one secret the lab's Secrets Manager holds.
type Secret struct {
	Name  string
	Value string
}

// SecretsManager serves GetSecretValue in awsJson1.1 (X-Amz-Target
// secretsmanager.GetSecretValue), for the functions that read the relay's
// API key at cold start. Values are never logged.
type SecretsManager struct {
	Region, AccountID string
	Secrets           []Secret
	Created           time.Time
	Log               *slog.Logger
}

// ARN returns the ARN of the secret called name, with the six-character
// suffix Secrets Manager appends (stable here, derived from the name).
func (s *SecretsManager) ARN(name string) string {
	h := sha256.Sum256([]byte(name))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	suffix := make([]byte, 6)
	for i := range suffix {
		suffix[i] = alphabet[int(h[i])%len(alphabet)]
	}
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.Region, s.AccountID, name, suffix)
}

func (s *SecretsManager) writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "Message": msg})
}

func (s *SecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", uuid.New())
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	if op != "GetSecretValue" {
		s.writeError(w, http.StatusBadRequest, "UnknownOperationException", "the relayshift lab's Secrets Manager serves GetSecretValue only")
		return
	}
	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.writeError(w, http.StatusBadRequest, "InvalidRequestException", "malformed request body")
		return
	}
	for _, sec := range s.Secrets {
		arn := s.ARN(sec.Name)
		// NOTE: SecretId accepts the name, the full ARN, or the ARN without
		// its random suffix (Secrets Manager GetSecretValue reference).
		if in.SecretID != sec.Name && in.SecretID != arn && in.SecretID != arn[:len(arn)-7] {
			continue
		}
		if in.VersionStage != "" && in.VersionStage != "AWSCURRENT" {
			break
		}
		if s.Log != nil {
			s.Log.Info("secret read", "secret", sec.Name)
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(map[string]any{
			"ARN": arn, "Name": sec.Name, "VersionId": "00000000-0000-0000-0000-000000000001",
			"SecretString": sec.Value, "VersionStages": []string{"AWSCURRENT"},
			"CreatedDate": float64(s.Created.UnixMilli()) / 1e3,
		})
		return
	}
	s.writeError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}
