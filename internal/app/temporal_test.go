package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
)

// testPKI is a throwaway CA with a server and a client certificate, written
// as PEM files.
type testPKI struct {
	dir                       string
	pool                      *x509.CertPool
	server                    tls.Certificate
	caFile, certFile, keyFile string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, dns []string) (certPEM, keyPEM []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	srvCert, srvKey := issue(2, "temporal", x509.ExtKeyUsageServerAuth, []string{"temporal.test"})
	server, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey := issue(3, "webhookd", x509.ExtKeyUsageClientAuth, nil)
	p := testPKI{dir: dir, pool: x509.NewCertPool(), server: server,
		caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "client.pem"), keyFile: filepath.Join(dir, "client.key")}
	p.pool.AddCert(ca)
	for f, b := range map[string][]byte{
		p.caFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), p.certFile: cliCert, p.keyFile: cliKey,
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestTemporalMTLSHandshake: the options built from TEMPORAL_TLS_* complete
// a real mutual-TLS handshake with a server that requires a client
// certificate from the same CA, and refuse a server of another name.
func TestTemporalMTLSHandshake(t *testing.T) {
	pki := newTestPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	clientCN := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if tc.Handshake() == nil && len(tc.ConnectionState().PeerCertificates) > 0 {
					clientCN <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
				}
			}()
		}
	}()
	dial := func(serverName string) error {
		cfg, err := config.LoadFrom(map[string]string{
			"TEMPORAL_ADDRESS": ln.Addr().String(), "TEMPORAL_TLS_CERT": pki.certFile, "TEMPORAL_TLS_KEY": pki.keyFile,
			"TEMPORAL_TLS_CA": pki.caFile, "TEMPORAL_TLS_SERVER_NAME": serverName,
		})
		if err != nil {
			t.Fatal(err)
		}
		opts, err := temporalOptions(cfg, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", opts.HostPort, opts.ConnectionOptions.TLS)
		if err != nil {
			return err
		}
		return c.Close()
	}
	if err := dial("temporal.test"); err != nil {
		t.Fatalf("mTLS handshake: %v", err)
	}
	if cn := <-clientCN; cn != "webhookd" {
		t.Fatalf("server saw client certificate %q", cn)
	}
	if err := dial("other.test"); err == nil {
		t.Fatal("a server certificate for another name was accepted")
	}
}

// TestTemporalAPIKey: with TEMPORAL_API_KEY the client sends it as a bearer
// token, over TLS, on its calls to the frontend (here a gRPC server that
// records what it gets).
func TestTemporalAPIKey(t *testing.T) {
	pki := newTestPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	auth := make(chan string, 16)
	srv := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&pki.server)),
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			md, _ := metadata.FromIncomingContext(stream.Context())
			if v := md.Get("authorization"); len(v) > 0 {
				auth <- v[0]
			}
			return status.Error(codes.Unavailable, "not a real Temporal")
		}))
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	cfg, err := config.LoadFrom(map[string]string{
		"TEMPORAL_ADDRESS": ln.Addr().String(), "TEMPORAL_API_KEY": "tk_secret",
		"TEMPORAL_TLS_CA": pki.caFile, "TEMPORAL_TLS_SERVER_NAME": "temporal.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := temporalOptions(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if opts.Credentials == nil || opts.ConnectionOptions.TLS == nil {
		t.Fatalf("API key without credentials or TLS: %+v", opts.ConnectionOptions)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c, err := client.DialContext(ctx, opts); err == nil {
		c.Close() // the fake server fails every call; the header is what counts
	}
	select {
	case got := <-auth:
		if got != "Bearer tk_secret" {
			t.Fatalf("authorization %q, want the bearer API key", got)
		}
	default:
		t.Fatal("no call carried the API key")
	}
}
