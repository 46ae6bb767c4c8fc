package main

import (
	"os"
	"testing"
)

func TestQuietSDKLogsOnlyWhenNoLoggingIsAsked(t *testing.T) {
	for _, kv := range os.Environ() {
		if len(kv) > 6 && kv[:6] == "TF_LOG" {
			for i := range kv {
				if kv[i] == '=' {
					t.Setenv(kv[:i], "")
					os.Unsetenv(kv[:i])
					break
				}
			}
		}
	}
	quietSDKLogs()
	if got := os.Getenv("TF_LOG_SDK"); got != "OFF" {
		t.Fatalf("with no TF_LOG* set, TF_LOG_SDK = %q, want OFF", got)
	}
	os.Unsetenv("TF_LOG_SDK")

	for _, asked := range []string{"TF_LOG", "TF_LOG_PROVIDER", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_PATH"} {
		t.Setenv(asked, "TRACE")
		quietSDKLogs()
		if got, set := os.LookupEnv("TF_LOG_SDK"); set {
			t.Fatalf("with %s set, TF_LOG_SDK was set to %q: the user's logging must stay as asked", asked, got)
		}
		os.Unsetenv(asked)
	}
}
