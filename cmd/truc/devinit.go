package main

// truc dev's first start: a demo PKI, a directory of demo agencies, API
// tokens, and the config files of a broker, an axis and several edges,
// all under one data directory. The config files are the same ones
// `truc axis --config` and `truc edge --config` read, so that a pilot can
// run the nodes as separate processes from them.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"truc.vn/truc/signing"
	"truc.vn/truc/signing/demopki"
)

// devEdgeSpec describes one demo edge: the agency at its head and how its
// sub-units are numbered.
type devEdgeSpec struct {
	ID     string
	Name   string // the head agency's name
	Suffix string // the OrganId suffix: G22, H26, ...
	Place  string
}

var devEdgeSpecs = []devEdgeSpec{
	{"vpcp", "Văn phòng Chính phủ", "G22", "Hà Nội"},
	{"hanoi", "UBND thành phố Hà Nội", "H26", "Hà Nội"},
	{"tayninh", "UBND tỉnh Tây Ninh", "H53", "Tây Ninh"},
	{"danang", "UBND thành phố Đà Nẵng", "H32", "Đà Nẵng"},
	{"hcm", "UBND Thành phố Hồ Chí Minh", "H29", "TP Hồ Chí Minh"},
	{"cantho", "UBND thành phố Cần Thơ", "H60", "Cần Thơ"},
}

// devOptions shape the demo world.
type devOptions struct {
	Edges     int    // number of edges, 1..len(devEdgeSpecs)
	Agencies  int    // agencies per edge (the head agency and sub-units), 1..99
	Host      string // address every node listens on
	BasePort  int    // broker on BasePort, axis on +1, edges on +2...
	KeyType   demopki.KeyType
	Prefix    string // topic prefix
	FastTimes bool   // short timeouts for tests: quick redelivery and resend
	// Integrations gives every edge the other ways a DMS connects, for
	// people trying them: a VXP-compatible API and a drop folder.
	Integrations bool
}

// devPorts returns the ports of the broker, the axis and each edge.
func (o devOptions) addr(i int) string {
	return net.JoinHostPort(o.Host, strconv.Itoa(o.BasePort+i))
}

func (o devOptions) brokerAddr() string    { return o.addr(0) }
func (o devOptions) axisAddr() string      { return o.addr(1) }
func (o devOptions) edgeAddr(i int) string { return o.addr(2 + i) }

// devManifest is written to <dir>/dev.json: what the demo world holds,
// for `truc dev` runs after the first and for tests.
type devManifest struct {
	Created  time.Time         `json:"created"`
	Broker   string            `json:"broker"`
	Axis     devNode           `json:"axis"`
	Edges    []devNode         `json:"edges"`
	Prefix   string            `json:"prefix"`
	Agencies map[string]string `json:"agencies"` // OrganId → edge ID
}

type devNode struct {
	ID        string `json:"id"`
	Config    string `json:"config"`     // config file, relative to the data dir
	URL       string `json:"url"`        // HTTP base URL
	TokenFile string `json:"token_file"` // DMS (edge) or admin (axis) token, relative
	OrganID   string `json:"organ_id"`   // head agency
	// With devOptions.Integrations, for an edge: the VXP endpoint, its
	// systemid and secret file, and the drop folder.
	VXPEndpoint   string `json:"vxp_endpoint,omitempty"`
	VXPSystemID   string `json:"vxp_system_id,omitempty"`
	VXPSecretFile string `json:"vxp_secret_file,omitempty"`
	Folder        string `json:"folder,omitempty"`
}

const devManifestFile = "dev.json"

// devInit creates the demo world in dir. It refuses a dir that already has
// one.
func devInit(dir string, o devOptions) (*devManifest, error) {
	if o.Edges < 1 || o.Edges > len(devEdgeSpecs) {
		return nil, fmt.Errorf("--edges: 1 to %d, got %d", len(devEdgeSpecs), o.Edges)
	}
	if o.Agencies < 1 || o.Agencies > 99 {
		return nil, fmt.Errorf("--agencies: 1 to 99 per edge, got %d", o.Agencies)
	}
	if fileExists(filepath.Join(dir, devManifestFile)) {
		return nil, fmt.Errorf("%s already holds a demo world", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := demopki.Init(filepath.Join(dir, "pki"), demopki.InitOptions{
		RootKey: o.KeyType, IssuingKey: o.KeyType,
		RootCN:    "RootCA chuyên dùng Chính phủ (DEMO truc dev)",
		IssuingCN: "CA phục vụ các cơ quan Nhà nước (DEMO truc dev)",
	})
	if err != nil {
		return nil, fmt.Errorf("creating the demo PKI: %w", err)
	}
	now := time.Now()
	if _, err := ca.CRL(now); err != nil {
		return nil, err
	}
	if _, err := ca.RootCRL(now); err != nil {
		return nil, err
	}
	m := &devManifest{Created: now.UTC(), Broker: o.brokerAddr(), Prefix: o.Prefix, Agencies: map[string]string{}}

	axisSeal, err := ca.Issue(demopki.IssueRequest{
		Kind: demopki.Agency, CommonName: "VĂN PHÒNG CHÍNH PHỦ - TRỤC LIÊN THÔNG", Organization: "CHÍNH PHỦ",
		Locality: "Hà Nội", Name: "axis", Key: o.KeyType,
	})
	if err != nil {
		return nil, fmt.Errorf("issuing the axis seal: %w", err)
	}
	adminToken, err := writeToken(filepath.Join(dir, "tokens", "admin.token"))
	if err != nil {
		return nil, err
	}
	syncToken, err := writeToken(filepath.Join(dir, "tokens", "sync.token"))
	if err != nil {
		return nil, err
	}
	logKey, err := axisLogVerifierText(axisSeal.Key, devAxisOrganID)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "axis-log.key"), []byte(logKey+"\n"), 0o644); err != nil {
		return nil, err
	}
	dirFile := devDirectoryFile{Version: 1}
	for i := range o.Edges {
		spec := devEdgeSpecs[i]
		seal, err := ca.Issue(demopki.IssueRequest{
			Kind: demopki.Agency, CommonName: spec.Name, Organization: spec.Name, Locality: spec.Place,
			Name: "edge-" + spec.ID, Key: o.KeyType,
		})
		if err != nil {
			return nil, fmt.Errorf("issuing the seal of edge %s: %w", spec.ID, err)
		}
		fp := signing.Fingerprint(seal.Certificate)
		dirFile.Edges = append(dirFile.Edges, devDirEdge{ID: spec.ID, CertificateFiles: []string{rel(dir, seal.CertFile)}})
		for j := range o.Agencies {
			id := fmt.Sprintf("000.00.%02d.%s", j, spec.Suffix)
			name, parent := spec.Name, ""
			if j > 0 {
				name = fmt.Sprintf("Sở số %d - %s", j, spec.Name)
				parent = fmt.Sprintf("000.00.00.%s", spec.Suffix)
			}
			dirFile.Agencies = append(dirFile.Agencies, devDirAgency{OrganID: id, Name: name, Parent: parent, Edge: spec.ID})
			dirFile.Bindings = append(dirFile.Bindings, devDirBinding{OrganID: id, Name: name, Certificates: []string{fp}})
			m.Agencies[id] = spec.ID
		}
		tokenFile := filepath.Join("tokens", spec.ID+".token")
		token, err := writeToken(filepath.Join(dir, tokenFile))
		if err != nil {
			return nil, err
		}
		var organs []string
		for j := range o.Agencies {
			organs = append(organs, fmt.Sprintf("000.00.%02d.%s", j, spec.Suffix))
		}
		ecfg := devEdgeFile{
			ID:      spec.ID,
			DataDir: filepath.Join("data", "edge-"+spec.ID),
			Kafka:   devKafka(o),
			Axis: devEdgeAxis{
				URL: "http://" + o.axisAddr(), TokenFile: filepath.Join("tokens", "sync.token"),
				LogKeyFile: "axis-log.key", SyncEvery: "2s",
			},
			Trust: devTrust(),
			Seal:  devSeal{Key: rel(dir, seal.KeyFile), Cert: rel(dir, seal.ChainFile)},
			API: devAPI{Listen: o.edgeAddr(i), Tokens: []devAPIToken{{
				Name: "dms-" + spec.ID, SHA256: tokenHash(token), OrganIDs: organs,
			}}},
		}
		if o.FastTimes {
			ecfg.ResendAfter = "3s"
			ecfg.Witness = &devWitness{Every: "1s"}
		}
		node := devNode{
			ID: spec.ID, Config: "edge-" + spec.ID + ".yaml", URL: "http://" + o.edgeAddr(i),
			TokenFile: tokenFile, OrganID: fmt.Sprintf("000.00.00.%s", spec.Suffix),
		}
		if o.Integrations {
			node.VXPSystemID = "vxp." + spec.ID
			node.VXPSecretFile = filepath.Join("tokens", "vxp-"+spec.ID+".secret")
			node.VXPEndpoint = node.URL + "/vxp"
			if _, err := writeToken(filepath.Join(dir, node.VXPSecretFile)); err != nil {
				return nil, err
			}
			ecfg.VXP = &devVXP{PathPrefix: "/vxp", Systems: []devVXPSystem{{
				ID: node.VXPSystemID, SecretFile: node.VXPSecretFile, OrganIDs: organs, ParentCodes: []string{node.OrganID},
			}}}
			// The folder receives every letter for the edge's agencies
			// but leaves taking them (and the 01) to the REST DMS.
			node.Folder = filepath.Join("folders", spec.ID)
			no := false
			ecfg.Folder = &devFolder{Root: node.Folder, OrganIDs: organs, TakeOnWrite: &no}
		}
		if err := writeYAML(filepath.Join(dir, node.Config), "edge "+spec.ID, ecfg); err != nil {
			return nil, err
		}
		m.Edges = append(m.Edges, node)
	}
	if err := writeYAML(filepath.Join(dir, "directory.yaml"), "directory", dirFile); err != nil {
		return nil, err
	}
	acfg := devAxisFile{
		OrganID: devAxisOrganID,
		DataDir: filepath.Join("data", "axis"),
		Listen:  o.axisAddr(),
		Kafka:   devKafka(o),
		Directory: devAxisDirectory{
			File: "directory.yaml", AdminTokens: []string{tokenHash(adminToken)}, SyncTokens: []string{tokenHash(syncToken)},
		},
		Trust: devTrust(),
		Seal:  devSeal{Key: rel(dir, axisSeal.KeyFile), Cert: rel(dir, axisSeal.ChainFile)},
	}
	if o.FastTimes {
		acfg.RedeliverAfter = "5s"
		acfg.CheckpointEvery = "200ms"
	}
	if acfg.Dashboard, err = devDashboard(dir); err != nil {
		return nil, err
	}
	if err := writeYAML(filepath.Join(dir, "axis.yaml"), "axis", acfg); err != nil {
		return nil, err
	}
	m.Axis = devNode{ID: "axis", Config: "axis.yaml", URL: "http://" + o.axisAddr(), TokenFile: filepath.Join("tokens", "admin.token"), OrganID: devAxisOrganID}
	if err := writeJSONFile(filepath.Join(dir, devManifestFile), m); err != nil {
		return nil, err
	}
	return m, nil
}

// devAxisOrganID is the OrganId the demo axis operator signs receipts as.
const devAxisOrganID = "000.00.00.G22"

// The config files truc dev writes: small mirrors of axisFile and
// edgeFile holding only what the demo sets, so that the files stay short.
type devAxisFile struct {
	OrganID         string           `yaml:"organ_id"`
	DataDir         string           `yaml:"data_dir"`
	Listen          string           `yaml:"listen"`
	Kafka           devKafkaConfig   `yaml:"kafka"`
	Directory       devAxisDirectory `yaml:"directory"`
	Trust           devTrustConfig   `yaml:"trust"`
	Seal            devSeal          `yaml:"seal"`
	RedeliverAfter  string           `yaml:"redeliver_after,omitempty"`
	CheckpointEvery string           `yaml:"checkpoint_every,omitempty"`
	Dashboard       dashboardSection `yaml:"dashboard,omitempty"`
}

type devAxisDirectory struct {
	File        string   `yaml:"file"`
	AdminTokens []string `yaml:"admin_tokens_sha256"`
	SyncTokens  []string `yaml:"sync_tokens_sha256"`
}

type devEdgeFile struct {
	ID          string         `yaml:"id"`
	DataDir     string         `yaml:"data_dir"`
	Kafka       devKafkaConfig `yaml:"kafka"`
	Axis        devEdgeAxis    `yaml:"axis"`
	Trust       devTrustConfig `yaml:"trust"`
	Seal        devSeal        `yaml:"seal"`
	API         devAPI         `yaml:"api"`
	ResendAfter string         `yaml:"resend_after,omitempty"`
	VXP         *devVXP        `yaml:"vxp,omitempty"`
	Folder      *devFolder     `yaml:"folder,omitempty"`
	Witness     *devWitness    `yaml:"witness,omitempty"`
}

type devVXP struct {
	PathPrefix string         `yaml:"path_prefix"`
	Systems    []devVXPSystem `yaml:"systems"`
}

type devVXPSystem struct {
	ID          string   `yaml:"id"`
	SecretFile  string   `yaml:"secret_file"`
	OrganIDs    []string `yaml:"organ_ids"`
	ParentCodes []string `yaml:"parent_codes"`
}

type devFolder struct {
	Root        string   `yaml:"root"`
	OrganIDs    []string `yaml:"organ_ids"`
	TakeOnWrite *bool    `yaml:"take_on_write"`
}

type devWitness struct {
	Every string `yaml:"every"`
}

type devEdgeAxis struct {
	URL        string `yaml:"url"`
	TokenFile  string `yaml:"token_file"`
	LogKeyFile string `yaml:"log_key_file"`
	SyncEvery  string `yaml:"sync_every"`
}

type devAPI struct {
	Listen string        `yaml:"listen"`
	Tokens []devAPIToken `yaml:"tokens"`
}

type devAPIToken struct {
	Name     string   `yaml:"name"`
	SHA256   string   `yaml:"sha256"`
	OrganIDs []string `yaml:"organ_ids"`
}

type devKafkaConfig struct {
	Brokers  []string         `yaml:"brokers"`
	Topics   devKafkaTopics   `yaml:"topics"`
	Consumer devKafkaConsumer `yaml:"consumer,omitempty"`
}

type devKafkaTopics struct {
	Prefix           string `yaml:"prefix"`
	SubmitPartitions int    `yaml:"submit_partitions"`
	Replication      int    `yaml:"replication"`
}

type devKafkaConsumer struct {
	SessionTimeout    string `yaml:"session_timeout,omitempty"`
	HeartbeatInterval string `yaml:"heartbeat_interval,omitempty"`
	RebalanceTimeout  string `yaml:"rebalance_timeout,omitempty"`
	JoinGroupBackoff  string `yaml:"join_group_backoff,omitempty"`
}

type devTrustConfig struct {
	Roots         []string `yaml:"roots"`
	Intermediates []string `yaml:"intermediates"`
	CRLs          []string `yaml:"crls"`
}

type devSeal struct {
	Key  string `yaml:"key"`
	Cert string `yaml:"cert"`
}

func devKafka(o devOptions) devKafkaConfig {
	k := devKafkaConfig{
		Brokers: []string{o.brokerAddr()},
		Topics:  devKafkaTopics{Prefix: o.Prefix, SubmitPartitions: 64, Replication: 1},
	}
	if o.FastTimes {
		k.Consumer = devKafkaConsumer{SessionTimeout: "1s", HeartbeatInterval: "300ms", RebalanceTimeout: "2s", JoinGroupBackoff: "200ms"}
	}
	return k
}

func devTrust() devTrustConfig {
	return devTrustConfig{
		Roots:         []string{filepath.Join("pki", demopki.RootCertFile)},
		Intermediates: []string{filepath.Join("pki", demopki.IssuingCertFile)},
		CRLs:          []string{filepath.Join("pki", demopki.IssuingCRLFile), filepath.Join("pki", demopki.RootCRLFile)},
	}
}

// devDirectoryFile is the directory file format (adapters/directory).
type devDirectoryFile struct {
	Version  int             `yaml:"version"`
	Agencies []devDirAgency  `yaml:"agencies"`
	Edges    []devDirEdge    `yaml:"edges"`
	Bindings []devDirBinding `yaml:"bindings"`
}

type devDirAgency struct {
	OrganID string `yaml:"organ_id"`
	Name    string `yaml:"name"`
	Parent  string `yaml:"parent,omitempty"`
	Edge    string `yaml:"edge"`
}

type devDirEdge struct {
	ID               string   `yaml:"id"`
	CertificateFiles []string `yaml:"certificate_files"`
}

type devDirBinding struct {
	OrganID      string   `yaml:"organ_id"`
	Name         string   `yaml:"name,omitempty"`
	Certificates []string `yaml:"certificates"`
}

func rel(dir, path string) string {
	if r, err := filepath.Rel(dir, path); err == nil {
		return r
	}
	return path
}

// writeToken writes a fresh random token to path (0600) and returns it.
func writeToken(path string) (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	token := "truc_" + hex.EncodeToString(b[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return token, os.WriteFile(path, []byte(token+"\n"), 0o600)
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func writeYAML(path, what string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("writing the %s config: %w", what, err)
	}
	header := fmt.Sprintf("# truc %s configuration, written by `truc dev`. Paths are relative to this file.\n", what)
	return writeFileAtomic(path, append([]byte(header), b...), 0o600)
}
