//go:build !cgo

package signing

const pkcs11Available = false

func openPKCS11(PKCS11Config) (*PKCS11Key, error) { return nil, ErrPKCS11Unavailable }
