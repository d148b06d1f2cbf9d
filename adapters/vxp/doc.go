// Package vxp is the VXP-compatible protocol layer: the HTTP API of the
// existing national document axis (VNPT's SDKVXP 2.0.1, spec §5 and
// Appendix A), so that document-management software written against that
// SDK can point its service.endpoint at a truc edge and work unchanged.
//
// Handler authenticates and decodes every operation exactly as the SDK
// sends it, calls a Backend (EdgeBackend, over the edge node) and answers
// in the JSON shapes the SDK parses. Client speaks to any VXP endpoint (the
// national axis, or a truc edge) exactly as the SDK does; it was written
// from the recorded requests, not from Handler, and the golden requests in
// testdata check both.
//
// # Operations
//
// Each operation is served at /<name>. Parameters travel in signed
// XroadVnpt-* headers; "a|b" means either key.
//
//	operation            methods    signed keys used           body          answer besides status, ErrorCode, ErrorDesc
//	sendEdoc             POST       servicetype, messagetype,  the package,  DocId
//	                                hash-file, from            CRLF optional
//	getReceivedEdocList  POST       servicetype, messagetype   ignored       data: [{docId, serviceType, messageType, created_time,
//	                                                                                updated_time, from, to, status, status_desc}]
//	getEdoc              POST       docId|docid                ignored       data: base64 of the whole package
//	downloadEdoc         GET        docId|docid                none          the package's bytes (application/octet-stream)
//	updateStatus         POST       docid|docId, status        ignored       –
//	getSentEdocList      POST       servicetype, messagetype,  ignored       data: [{serviceType, messageType, senderDocId,
//	                                docId (optional)                          receiverDocId, fromCode, toCode, title, notation,
//	                                                                          sentTime, receivedTime, sendStatus, sendStatusDesc,
//	                                                                          receiveStatus, receiveStatusDesc}]
//	countReceiveEdoc,    GET, POST  – (the path says which)    ignored       count (a JSON number)
//	countReceiveStatus
//	getAgenciesList      POST       –                          ignored       data: [{id, pid, code, name, mail, oldCode}]
//	getAgenciesListQD20  POST       –                          ignored       data: [{id, code, name, mail, code102}]
//	getSynchronizeUnit   POST       –                          ignored       data: [{id, pid, code, name, mail, version, centerCode,
//	                                                                          deleted, modifyDate, isAgency}]
//	registerAgency       POST       –                          JSON object   –
//	deleteAgency         POST       AgencyCode                 ignored       –
//
// The methods are those the SDK uses (Appendix A: it POSTs the counts)
// plus those spec §5.2 documents (GET for the counts). Every operation
// also needs systemid and timestamp signed. "Ignored" bodies ("{}" or
// nothing from the SDK) are read and dropped within MaxSmallBodyBytes.
//
// # Authentication
//
// A request is authenticated in this order; the first failure answers:
//
//  1. XroadVnpt-sign-header-key, XroadVnpt-sign-header and
//     XroadVnpt-hash-header are each present exactly once (else 400).
//  2. The sign-header is read strictly: a JSON object of strings, keys
//     "XroadVnpt-<k>" with <k> an HTTP token, no key twice, valid UTF-8, at
//     most MaxSignHeaderBytes and MaxSignedKeys (else 400). The key list
//     names exactly its keys, each once, in any order (else 400). The
//     hash-header is 64 hex digits, either case (else 400).
//  3. systemid is signed (else 400) and configured, and the HMAC-SHA256
//     of the sign-header string exactly as received, keyed with that
//     system's secret, equals the hash-header, compared in constant time.
//     An unknown systemid and a wrong HMAC get the same answer (401), after
//     the same work.
//  4. Every signed key <k> arrived as the header XroadVnpt-<k> with its
//     signed value (header names are case-insensitive; values are compared
//     after trimming blanks as HTTP does). A header missing or differing
//     from its signed value is refused (401). Headers that are not signed
//     are ignored, and so are signed keys the operation does not use, such
//     as docId and filePath that the SDK leaks into later calls.
//  5. timestamp is signed and in the SDK's form (ParseTimestamp; else 400).
//  6. The operation's keys are signed and valid (else 400); for sendEdoc,
//     from must be one of the system's OrganIds (else 403); the body fits
//     its cap (else 413); for sendEdoc, the SHA-256 of the body, or of the
//     body without one trailing "\r\n", equals the signed hash-file in the
//     SDK's unpadded hex or in ordinary hex (else 401), and the package
//     handed on is whichever matched.
//
// Only then is the Backend called. The HMAC covers the sign-header only,
// not the key list, the header order, the method, the path or the body:
// the body is bound to the signature by hash-file for sendEdoc and by
// nothing for registerAgency, which is how the SDK works. The timestamp
// gives no replay protection (the SDK sends the same one for the life of
// its service object); replays are made harmless by the Backend's content
// deduplication and idempotent operations, and the transport (TLS, the
// X-Road security server) is what keeps requests from being captured.
//
// # Answers and ErrorCode
//
// Every answer is a JSON object starting with status, ErrorCode and
// ErrorDesc, written with UTF-8 text as is and without HTML escaping, as
// Gson writes. A success is status "OK", ErrorCode "0", ErrorDesc
// "Success". A refusal is status "FAIL" and one of these codes, which is
// also the HTTP status (the SDK reads the body whatever the status):
//
//	ErrorCode  when
//	400        a request malformed: an XroadVnpt header missing, repeated or
//	           malformed; a sign-header that is not a flat JSON object of
//	           strings; a key list that does not match it; an operation's key
//	           or systemid or timestamp not signed; a timestamp not in the
//	           SDK's form; a parameter outside its values (servicetype,
//	           messagetype, status, docId, from, AgencyCode); a registerAgency
//	           body that does not validate
//	401        not authenticated: unknown systemid or wrong HMAC (one answer
//	           for both); a signed header missing or differing from its
//	           signed value; a sendEdoc body that does not match hash-file
//	403        forbidden: from is not one of the system's OrganIds; the agency
//	           of registerAgency or deleteAgency (or its pcode) is not under
//	           the system's parent codes; or the Backend says KindForbidden
//	404        unknown operation; or the Backend says KindNotFound
//	405        the operation does not accept the method (Allow lists those it does)
//	409        the Backend says KindConflict (e.g. updateStatus done, then fail)
//	413        the body is larger than its cap
//	422        the Backend says KindInvalidPackage; ErrorDesc names the field and rule
//	500        the Backend failed otherwise; ErrorDesc says only "internal error"
//	503        the Backend says KindUnavailable, or the client went away
//
// ErrorDesc is "<field>: <message> (<rule>)", in ASCII (the SDK reads a
// successful sendEdoc answer as US-ASCII), and never holds a secret, a
// header value other than the one at fault, or a Backend's wrapped cause.
// sendEdoc answers always carry DocId ("" on failure), because the SDK
// reads it before looking at the status. List answers always carry data
// (an array, possibly empty) and every member of their items, with times
// as text in AnswerTimeLayout; a JSON null would make the SDK fail.
//
// # Choices where the SDK and the spec are silent
//
//   - A docId must be 1–MaxDocIDLength of [A-Za-z0-9._:-]: the SDK writes
//     files named after it.
//   - servicetype, messagetype and the updateStatus status are matched
//     without regard to case and normalised.
//   - countReceiveEdoc and countReceiveStatus count what their path says;
//     a signed messagetype is not used (a leaky client may carry a stale
//     one).
//   - getSentEdocList filters by a signed docId, even one leaked from an
//     earlier getEdoc: the SDK's own behaviour against the national axis.
//   - getAgenciesListQD20's optional "level" key is ignored.
//   - "Under a parent code" is the OrganId hierarchy (see Under).
//   - registerAgency requires code (an OrganId), name and a bare mail
//     address; pcode, when given, must be a parent code or under one.
//
// # Caveats
//
//   - The Java SDK cannot authenticate header values outside Latin-1: it
//     HMACs the UTF-8 sign-header but its HTTP clients send header bytes
//     as Latin-1, so such a value reaches the server changed and is
//     refused (401). OrganIds, docIds and the other parameters are ASCII,
//     so this does not arise in practice. The Go Client sends UTF-8.
//   - A sendEdoc body is held in memory whole (up to MaxBodyBytes) to be
//     hashed before the Backend sees it; size concurrent uploads
//     accordingly, and set the server's MaxHeaderBytes and timeouts.
//   - A request refused before its body is read is answered at once; the
//     server then drains or closes the connection, so a client sending a
//     large body may see the connection reset before it reads the answer.
//   - Nothing here checks the package: parsing, validation, signing and
//     routing are the Backend's.
package vxp
