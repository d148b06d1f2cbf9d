// SDKHeaders computes, with the JDK classes SDKVXP 2.0.1 uses, the values
// the Go client must reproduce: the iteration order of java.util.HashMap,
// the unpadded hash-file (Integer.toHexString per byte), the
// SimpleDateFormat timestamp and the HMAC-SHA256 of the sign-header. It is
// run by sdk_java_test.go with the single-file launcher ("java
// SDKHeaders.java") and reads one tab-separated command per line:
//
//   order <key>...          keys put into a new HashMap, printed in iteration order
//   hashfile <hex bytes>    SHA-256 of the bytes, each byte Integer.toHexString(0xFF & b)
//   timestamp <millis>      new SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS") in Asia/Ho_Chi_Minh
//   hmac <secret> <message> lower-case hex HMAC-SHA256(UTF-8 secret, UTF-8 message)
//
// Each answer is one tab-separated line.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.text.SimpleDateFormat;
import java.util.Date;
import java.util.HashMap;
import java.util.TimeZone;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class SDKHeaders {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.split("\t", -1);
            StringBuilder out = new StringBuilder();
            switch (f[0]) {
                case "order": {
                    HashMap<String, String> m = new HashMap<>();
                    for (int i = 1; i < f.length; i++) m.put(f[i], "v");
                    for (String k : m.keySet()) {
                        if (out.length() > 0) out.append('\t');
                        out.append(k);
                    }
                    break;
                }
                case "hashfile": {
                    byte[] data = new byte[f[1].length() / 2];
                    for (int i = 0; i < data.length; i++) data[i] = (byte) Integer.parseInt(f[1].substring(2 * i, 2 * i + 2), 16);
                    byte[] d = MessageDigest.getInstance("SHA-256").digest(data);
                    for (byte b : d) out.append(Integer.toHexString(0xFF & b));
                    break;
                }
                case "timestamp": {
                    SimpleDateFormat sdf = new SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS");
                    sdf.setTimeZone(TimeZone.getTimeZone("Asia/Ho_Chi_Minh"));
                    out.append(sdf.format(new Date(Long.parseLong(f[1]))));
                    break;
                }
                case "hmac": {
                    Mac mac = Mac.getInstance("HmacSHA256");
                    mac.init(new SecretKeySpec(f[1].getBytes("UTF-8"), "HmacSHA256"));
                    for (byte b : mac.doFinal(f[2].getBytes("UTF-8"))) out.append(String.format("%02x", b));
                    break;
                }
                default:
                    out.append("unknown command ").append(f[0]);
            }
            System.out.println(out);
        }
    }
}
