package vxp

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgainstJava checks the client's reproduction of the SDK's Java
// behaviour against the JDK itself (testdata/java/SDKHeaders.java): the
// HashMap order for the SDK's key sequences and for random key sets large
// enough to resize the table, the unpadded hash-file, the timestamp and
// the HMAC. It is skipped when no java is installed.
func TestAgainstJava(t *testing.T) {
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("skipping: java not found; install a JRE (17+) to check the SDK emulation against the JDK")
	}
	if testing.Short() {
		t.Skip("skipping: starts a JVM")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	type check struct {
		cmd  []string
		want string
	}
	var checks []check

	// HashMap orders.
	sequences := [][]string{
		{"timestamp", "systemid", "Content-Type", "from", "servicetype", "messagetype", "hash-file"},
		{"timestamp", "systemid", "Content-Type", "filePath", "docId", "servicetype", "messagetype", "status", "docid", "AgencyCode", "to", "level"},
		{"Aa", "BB", "AaAa", "BBBB", "AaBB", "BBAa"}, // equal hash codes: insertion order within a bucket
	}
	for n := 1; n <= 80; n += 3 { // up to 80 keys: several resizes
		var keys []string
		for i := 0; i < n; i++ {
			keys = append(keys, randomKey(rng))
		}
		sequences = append(sequences, keys)
	}
	for _, seq := range sequences {
		m := &javaMap{}
		for _, k := range seq {
			m.put(k, "v")
		}
		checks = append(checks, check{cmd: append([]string{"order"}, seq...), want: strings.ReplaceAll(keysOf(m), ";", "\t")})
	}

	// hash-file, timestamps, HMACs.
	for i := 0; i < 20; i++ {
		data := make([]byte, rng.IntN(300))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		sum := sha256.Sum256(data)
		checks = append(checks, check{cmd: []string{"hashfile", hex.EncodeToString(data)}, want: UnpaddedHex(sum[:])})

		ms := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() + rng.Int64N(40*365*24*3600*1000)
		checks = append(checks, check{cmd: []string{"timestamp", fmt.Sprint(ms)}, want: FormatTimestamp(time.UnixMilli(ms))})

		secret, msg := randomKey(rng)+"Tây", `{"XroadVnpt-systemid":"`+randomKey(rng)+`","XroadVnpt-name":"Văn phòng"}`
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(msg))
		checks = append(checks, check{cmd: []string{"hmac", secret, msg}, want: hex.EncodeToString(mac.Sum(nil))})
	}

	var input strings.Builder
	for _, c := range checks {
		input.WriteString(strings.Join(c.cmd, "\t") + "\n")
	}
	cmd := exec.Command(java, filepath.Join("testdata", "java", "SDKHeaders.java"))
	cmd.Stdin = strings.NewReader(input.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("running SDKHeaders.java: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i, c := range checks {
		if !sc.Scan() {
			t.Fatalf("java answered %d of %d checks", i, len(checks))
		}
		if got := sc.Text(); got != c.want {
			t.Errorf("%s %.60q…: java says\n %q\nGo says\n %q", c.cmd[0], strings.Join(c.cmd[1:], " "), got, c.want)
		}
	}
}

// randomKey returns a header-like key of 1–12 characters.
func randomKey(rng *rand.Rand) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	b := make([]byte, 1+rng.IntN(12))
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return string(b)
}
