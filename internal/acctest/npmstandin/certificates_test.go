package npmstandin_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest/npmstandin"
)

// upload posts files to a certificate's upload route, as file parts (or
// as plain form fields when asFields).
func upload(t *testing.T, s *npmstandin.Server, tok string, id int, files map[string]string, asFields bool) answer {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for name, content := range files {
		if asFields {
			mw.WriteField(name, content)
			continue
		}
		part, _ := mw.CreateFormFile(name, name+".pem")
		part.Write([]byte(content))
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/nginx/certificates/%d/upload", s.URL, id), &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := jsonschema.UnmarshalJSON(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, doc}
}

// TestCertificatesLikeNPM checks the certificate routes against NPM 2.15's
// schema and code: the create body, the upload's files (file parts only),
// openssl's checks, the provider rule of uploads, and certbot's refusal.
func TestCertificatesLikeNPM(t *testing.T) {
	t.Parallel()
	s := npmstandin.New(t, email, password)
	tok := login(t, s)
	ca := acctest.MustTestCA(t, "stand-in test CA")
	leaf := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"shop.example.test"}})
	other := ca.MustIssue(t, acctest.LeafOptions{DNSNames: []string{"shop.example.test"}})

	for _, tc := range []struct{ name, body, want string }{
		{"unknown property", `{"provider":"other","nice_name":"x","letsencrypt_email":"a@b.c"}`, "data must NOT have additional properties"},
		{"unknown provider", `{"provider":"zerossl"}`, `data/provider must match pattern "^(letsencrypt|other)$"`},
		{"meta's unknown key", `{"provider":"letsencrypt","domain_names":["a.example.test"],"meta":{"letsencrypt_agree":true}}`, "data/meta must NOT have additional properties"},
	} {
		if a := call(t, s, "POST", "/api/nginx/certificates", tok, tc.body); a.status != 400 || a.message() != tc.want {
			t.Errorf("%s: got %d %q, want 400 %q", tc.name, a.status, a.message(), tc.want)
		}
	}

	a := call(t, s, "POST", "/api/nginx/certificates", tok, `{"provider":"other","nice_name":"mine"}`)
	if a.status != 201 {
		t.Fatalf("create: %d %v", a.status, a.body)
	}
	id := int(mustInt(a.object()["id"]))
	files := map[string]string{"certificate": leaf.CertPEM, "certificate_key": leaf.KeyPEM}
	if a := upload(t, s, tok, id, files, true); a.status != 400 || a.object()["error"] != "No files were uploaded" {
		t.Errorf("form fields: got %d %v, want 400 No files were uploaded", a.status, a.body)
	}
	if a := upload(t, s, tok, id, map[string]string{"certificate": leaf.CertPEM}, false); a.status != 400 || a.message() != "data must have required property 'certificate_key'" {
		t.Errorf("no key: got %d %q", a.status, a.message())
	}
	if a := upload(t, s, tok, id, map[string]string{"certificate": leaf.CertPEM, "certificate_key": other.KeyPEM}, false); a.status != 400 || !strings.HasPrefix(a.message(), "Certificate Key is not valid") {
		t.Errorf("another key: got %d %q", a.status, a.message())
	}
	if a := upload(t, s, tok, id, files, false); a.status != 200 || a.object()["certificate_key"] != leaf.KeyPEM {
		t.Errorf("upload: got %d %v, want 200 echoing the files", a.status, a.body)
	}
	for _, r := range s.Requests() {
		if strings.Contains(r.Body, leaf.KeyPEM[40:80]) {
			t.Fatalf("a recorded request carries the key: %s", r)
		}
	}
	got := call(t, s, "GET", fmt.Sprintf("/api/nginx/certificates/%d", id), tok, "")
	if names := fmt.Sprint(got.object()["domain_names"]); names != "[shop.example.test]" {
		t.Errorf("after the upload domain_names = %s, want the CN", names)
	}

	// Let's Encrypt: issued in the create call; no upload; a refusal is
	// certbot's output in debug.stack, and no certificate is kept.
	s.RefuseLetsEncrypt("nodns.example.test", "DNS problem: NXDOMAIN")
	a = call(t, s, "POST", "/api/nginx/certificates", tok, `{"provider":"letsencrypt","domain_names":["b.example.test","a.example.test"],"meta":{"dns_challenge":false}}`)
	if a.status != 201 || a.object()["nice_name"] != "a.example.test, b.example.test" {
		t.Fatalf("Let's Encrypt create: %d %v", a.status, a.body)
	}
	le := int(mustInt(a.object()["id"]))
	if a := upload(t, s, tok, le, files, false); a.status != 400 || a.message() != "Cannot upload certificates for this type of provider" {
		t.Errorf("upload to Let's Encrypt: got %d %q", a.status, a.message())
	}
	n := len(s.Certificates())
	a = call(t, s, "POST", "/api/nginx/certificates", tok, `{"provider":"letsencrypt","domain_names":["nodns.example.test"],"meta":{"dns_challenge":false}}`)
	stack := fmt.Sprint(a.object()["debug"])
	if a.status != 500 || a.message() != "Internal Error" || !strings.Contains(stack, "Domain: nodns.example.test") || len(s.Certificates()) != n {
		t.Errorf("refused Let's Encrypt: %d %v, %d certificates (want %d)", a.status, a.body, len(s.Certificates()), n)
	}

	// A host can carry a certificate by id; "new" (NPM's own request) is
	// not played.
	if a := call(t, s, "POST", "/api/nginx/proxy-hosts", tok, `{"domain_names":["n.example.test"],"forward_scheme":"http","forward_host":"127.0.0.1","forward_port":80,"certificate_id":"new"}`); a.status != 400 {
		t.Errorf("certificate_id new: got %d %v", a.status, a.body)
	}
	if a := call(t, s, "POST", "/api/nginx/proxy-hosts", tok, fmt.Sprintf(`{"domain_names":["shop.example.test"],"forward_scheme":"http","forward_host":"127.0.0.1","forward_port":80,"certificate_id":%d,"ssl_forced":true}`, id)); a.status != 201 {
		t.Errorf("host with a certificate: got %d %v", a.status, a.body)
	}
	if a := call(t, s, "DELETE", fmt.Sprintf("/api/nginx/certificates/%d", id), tok, ""); a.status != 200 {
		t.Errorf("delete: %d %v", a.status, a.body)
	}
	if a := call(t, s, "DELETE", fmt.Sprintf("/api/nginx/certificates/%d", id), tok, ""); a.status != 404 {
		t.Errorf("delete again: %d %v", a.status, a.body)
	}
}

func mustInt(v any) int64 {
	switch n := v.(type) {
	case interface{ Int64() (int64, error) }:
		i, _ := n.Int64()
		return i
	case float64:
		return int64(n)
	}
	panic(fmt.Sprintf("not a number: %v", v))
}
