// Package apikey reads the relay's API key from AWS Secrets Manager. The
// key is returned to the caller only: it is never logged, and no error
// this package returns contains it.
package apikey
