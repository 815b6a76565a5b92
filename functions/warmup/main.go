// Command warmup is the relayshift warmup Lambda function. The handler is built in
// internal/functions; this file only wires it to the Lambda runtime.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/relayshift/relayshift/internal/functions"
)

func main() {
	log := functions.NewLogger(os.Stdout, slog.LevelInfo)
	h, err := functions.FromEnv(context.Background(), os.LookupEnv, log, functions.WarmUp)
	if err != nil {
		log.Error("cannot start", "function", "warmup", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
