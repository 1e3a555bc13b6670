package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
)

func cmdKeys(_ context.Context, args []string, _ func(string) string, stdout, _ io.Writer) error {
	if len(args) != 1 || args[0] != "generate" {
		return usagef("usage: gridlink keys generate")
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(key))
	return nil
}
