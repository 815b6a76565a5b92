// Package awserr classifies AWS SDK errors into relayshift's error names,
// the one place where throttling and access-denied codes are recognised for
// every adapter.
package awserr

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/relayshift/relayshift/internal/deploy"
)

// Classify wraps err with op and, when it is an AWS API error, the name
// Step Functions will see: Throttled for every code the SDK itself treats as
// throttling (retry.DefaultThrottleErrorCodes), AccessDenied for the
// access-denied codes, or what service returns for the code ("" when the
// service does not know it, which leaves the error unclassified, hence
// InternalError at the edge). nil stays nil.
func Classify(op string, err error, service func(code string) deploy.Code) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%s: %w", op, err)
	}
	code := ae.ErrorCode()
	if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
		return deploy.Errorf(deploy.Throttled, "%s: %w", op, err)
	}
	switch code {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
		return deploy.Errorf(deploy.AccessDenied, "%s: %w", op, err)
	}
	if service != nil {
		if c := service(code); c != "" {
			return deploy.Errorf(c, "%s: %w", op, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}
