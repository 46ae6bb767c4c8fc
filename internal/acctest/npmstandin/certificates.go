package npmstandin

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

// The certificates of NPM 2.15 (backend/internal/certificate.js at the
// schema's commit): a custom certificate is created empty (provider
// "other") and filled by a multipart upload of files; a Let's Encrypt one
// is issued by certbot inside the create call, with the email of the NPM
// user who asks, and its nice_name is overwritten with its domains. The
// stand-in's Let's Encrypt is a test CA of its own (LetsEncryptRoot), and a
// domain RefuseLetsEncrypt names fails the create as certbot's refusal
// does: HTTP 500 "Internal Error", certbot's output in debug.stack.

type certificate struct {
	row     map[string]any // as the API returns it; meta holds the PEMs
	deleted bool
	pair    *tls.Certificate // what nginx serves, once there is one
}

// Certificate is a certificate as the stand-in stores it.
type Certificate struct {
	ID          int
	Provider    string
	NiceName    string
	DomainNames []string
	// CertificatePEM is the uploaded or issued certificate, "" before an
	// upload.
	CertificatePEM string
}

// Certificates returns the certificates that are not deleted, by id.
func (s *Server) Certificates() []Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Certificate
	for _, id := range slices.Sorted(maps.Keys(s.certs)) {
		c := s.certs[id]
		if c.deleted {
			continue
		}
		meta, _ := c.row["meta"].(map[string]any)
		pemText, _ := meta["certificate"].(string)
		out = append(out, Certificate{
			ID: id, Provider: c.row["provider"].(string), NiceName: c.row["nice_name"].(string),
			DomainNames: slices.Clone(c.row["domain_names"].([]string)), CertificatePEM: pemText,
		})
	}
	return out
}

// SeedCertificate stores a custom certificate directly, as a user of the
// NPM UI would, and returns its id.
func (s *Server) SeedCertificate(niceName, certPEM, keyPEM string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.insertCertificate(map[string]any{"provider": "other", "nice_name": niceName})
	if msg := c.store(certPEM, keyPEM); msg != "" {
		panic("npm stand-in: SeedCertificate: " + msg)
	}
	return intField(c.row, "id")
}

// RefuseLetsEncrypt makes the stand-in's Let's Encrypt refuse domain with
// detail, as certbot reports a failed challenge; "" accepts it again.
func (s *Server) RefuseLetsEncrypt(domain, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if detail == "" {
		delete(s.leRefused, domain)
		return
	}
	s.leRefused[domain] = detail
}

// LetsEncryptRoot is the root the stand-in's Let's Encrypt issues under.
func (s *Server) LetsEncryptRoot() *x509.CertPool { return s.le.Pool() }

func (s *Server) serveCertificates(w http.ResponseWriter, r *http.Request, rest []string) {
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		out := []any{}
		for _, id := range slices.Sorted(maps.Keys(s.certs)) {
			if !s.certs[id].deleted {
				out = append(out, cloneMap(s.certs[id].row))
			}
		}
		writeJSON(w, http.StatusOK, out)
		return
	case len(rest) == 0 && r.Method == http.MethodPost:
		s.createCertificate(w, r)
		return
	}
	id, err := strconv.Atoi(rest[0])
	if err != nil || id < 1 || len(rest) > 2 {
		notFound(w, r.URL.Path)
		return
	}
	c, ok := s.certs[id]
	if !ok || c.deleted {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Not Found - %d", id))
		return
	}
	switch {
	case len(rest) == 1 && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, cloneMap(c.row))
	case len(rest) == 1 && r.Method == http.MethodDelete:
		c.deleted = true
		writeJSON(w, http.StatusOK, true)
	case len(rest) == 2 && rest[1] == "upload" && r.Method == http.MethodPost:
		s.upload(w, r, c)
	default:
		notFound(w, r.URL.Path)
	}
}

func (s *Server) createCertificate(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, s.schemas.CertificateCreate)
	if !ok {
		return
	}
	c := s.insertCertificate(body)
	if c.row["provider"] != "letsencrypt" {
		writeJSON(w, http.StatusCreated, cloneMap(c.row))
		return
	}
	domains := c.row["domain_names"].([]string)
	for _, d := range domains {
		if detail, refused := s.leRefused[d]; refused {
			// NPM hard-deletes the row and answers certbot's failure.
			delete(s.certs, intField(c.row, "id"))
			writeJSON(w, http.StatusInternalServerError, map[string]any{
				"error": map[string]any{"code": 500, "message": "Internal Error"},
				"debug": map[string]any{"stack": certbotRefusal(d, detail), "previous": map[string]any{"code": 1}},
			})
			if rec, ok := w.(*statusRecorder); ok {
				rec.errMsg = "Internal Error (certbot: " + d + ")"
			}
			return
		}
	}
	leaf, err := s.le.Issue(acctest.LeafOptions{DNSNames: domains})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Internal Error")
		return
	}
	c.store(leaf.CertPEM, leaf.KeyPEM)
	// certbot's certificate keeps every name; an upload's gets its CN.
	c.row["domain_names"], c.row["nice_name"] = domains, strings.Join(domains, ", ")
	writeJSON(w, http.StatusCreated, cloneMap(c.row))
}

// certbotRefusal is err.stack of certbot's failure: "CommandError: " and
// its stderr, then the JavaScript frames.
func certbotRefusal(domain, detail string) []string {
	return []string{
		"CommandError: Saving debug log to /tmp/letsencrypt-log/letsencrypt.log",
		"Some challenges have failed.",
		"Certbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported these problems:",
		"  Domain: " + domain,
		"  Type:   unauthorized",
		"  Detail: " + detail,
		"",
		"Hint: The Certificate Authority failed to download the temporary challenge files created by Certbot. Ensure that the listed domains serve their content from the provided --webroot-path/-w and that files created there can be downloaded from the internet.",
		"",
		"    at ChildProcess.exithandler (node:child_process:422:12)",
		"    at ChildProcess.emit (node:events:518:28)",
	}
}

// upload plays POST /api/nginx/certificates/{id}/upload: the files come as
// multipart file parts (express-fileupload's req.files; plain form fields
// are not files), checked against certificate_files, then by openssl.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, c *certificate) {
	files := map[string]string{}
	if err := r.ParseMultipartForm(1 << 20); err == nil && r.MultipartForm != nil {
		for name, fhs := range r.MultipartForm.File {
			f, err := fhs[0].Open()
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(f)
			f.Close()
			files[name] = string(b)
		}
	}
	if len(files) == 0 {
		// This route answers without NPM's error object.
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "No files were uploaded"})
		if rec, ok := w.(*statusRecorder); ok {
			rec.errMsg = "No files were uploaded"
		}
		return
	}
	doc := map[string]any{}
	for k, v := range files {
		doc[k] = v
	}
	if msg := Message(s.schemas.CertificateFiles, doc); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	if c.row["provider"] != "other" {
		writeError(w, http.StatusBadRequest, "Cannot upload certificates for this type of provider")
		return
	}
	certPEM := files["certificate"]
	if inter := files["intermediate_certificate"]; inter != "" {
		certPEM += "\n" + inter
	}
	if msg := c.store(certPEM, files["certificate_key"]); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	// NPM answers with the files it stored, the key among them.
	writeJSON(w, http.StatusOK, map[string]any{"certificate": files["certificate"], "certificate_key": files["certificate_key"]})
}

// store checks a certificate and its key as NPM's openssl calls do and
// keeps them: meta.certificate and meta.certificate_key, the CN as its
// only domain name, expires_on. It returns NPM's message on failure.
func (c *certificate) store(certPEM, keyPEM string) string {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		return "Certificate is not valid (unable to load certificate)"
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "Certificate is not valid (" + err.Error() + ")"
	}
	if time.Now().After(leaf.NotAfter) {
		return "Certificate has expired"
	}
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		return "Certificate Key is not valid (Result Validation Error: key does not match or does not parse)"
	}
	meta := cloneMap(c.row["meta"].(map[string]any))
	meta["certificate"], meta["certificate_key"] = certPEM, keyPEM
	c.row["meta"] = meta
	c.row["domain_names"] = []string{leaf.Subject.CommonName}
	c.row["expires_on"] = isoTime(leaf.NotAfter)
	c.pair = &pair
	return ""
}

func (s *Server) insertCertificate(body map[string]any) *certificate {
	s.lastCertID++
	now := isoTime(time.Now())
	row := map[string]any{
		"id": s.lastCertID, "created_on": now, "modified_on": now, "owner_user_id": 1,
		"provider": body["provider"], "nice_name": "", "domain_names": []string{}, "expires_on": now, "meta": map[string]any{},
	}
	if v, ok := body["nice_name"].(string); ok {
		row["nice_name"] = v
	}
	if v, ok := body["domain_names"].([]any); ok {
		row["domain_names"] = domainNames(v)
	}
	if v, ok := body["meta"].(map[string]any); ok {
		row["meta"] = cloneMap(v)
	}
	c := &certificate{row: row}
	s.certs[s.lastCertID] = c
	return c
}

// tlsCertificate is what nginx serves for name: the certificate of the
// live proxy host carrying it, as configured at the last reload.
func (s *Server) tlsCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := strings.ToLower(hello.ServerName)
	id, ok := s.liveCerts[name]
	if !ok {
		if _, parent, found := strings.Cut(name, "."); found {
			id, ok = s.liveCerts["*."+parent]
		}
	}
	if !ok {
		return nil, fmt.Errorf("no certificate for %q", name)
	}
	c, ok := s.certs[id]
	if !ok || c.pair == nil {
		return nil, fmt.Errorf("certificate %d has no files", id)
	}
	return c.pair, nil
}

// privateKey matches a PEM private key, of any kind.
var privateKey = regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----`)

// redactKeys replaces the private keys in a recorded body.
func redactKeys(body string) string { return privateKey.ReplaceAllString(body, "[redacted]") }
