#pragma once

// Fixtures shared by the crypto_jose_* tests.
//
// The two asymmetric keys, their JWKs, thumbprints and the two tokens below come from an
// independent implementation: the keys were made with the `openssl genpkey` CLI (OpenSSL
// 3.0), and the thumbprints and tokens were computed by node's `jose` package (v5) with
// importPKCS8, exportJWK, calculateJwkThumbprint and SignJWT, run outside the repository.

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/secret.h"
#include "crypto/bytes.h"
#include "crypto/encoding.h"
#include "crypto/jose_keys.h"

namespace gatehouse::crypto::jose_test {

inline constexpr char kEcPrivatePem[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgr2O/wa03hhFuDEwG
D0wCBFvC0Ovp7S1EwW9ZIIvjENShRANCAAT16WcA+5i8ke77SdwX9eeM8pArewK3
RPAeD3zy5IH7IDMXdBzDu+0Yb7o2hi6sDBAV7ih9GhF3WZcQLLAWtfbu
-----END PRIVATE KEY-----
)";
inline constexpr char kEcPublicPem[] = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9elnAPuYvJHu+0ncF/XnjPKQK3sC
t0TwHg988uSB+yAzF3Qcw7vtGG+6NoYurAwQFe4ofRoRd1mXECywFrX27g==
-----END PUBLIC KEY-----
)";
inline constexpr char kEcX[] = "9elnAPuYvJHu-0ncF_XnjPKQK3sCt0TwHg988uSB-yA";
inline constexpr char kEcY[] = "Mxd0HMO77RhvujaGLqwMEBXuKH0aEXdZlxAssBa19u4";
inline constexpr char kEcThumbprint[] = "gmy_EsTEGEG9KooIS-SY54Nltf3Ng4NRmVLoB_-R3xM";

inline constexpr char kEdPrivatePem[] = R"(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIFUO7SUaVbrqovldZCmsmrb0Vn8dh4OTjYkoFjvLpJis
-----END PRIVATE KEY-----
)";
inline constexpr char kEdPublicPem[] = R"(-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAOA/DtVd6ZPpz3X++3Rj0wGoEenbVS8KfPmHaBv4l8Fk=
-----END PUBLIC KEY-----
)";
inline constexpr char kEdX[] = "OA_DtVd6ZPpz3X--3Rj0wGoEenbVS8KfPmHaBv4l8Fk";
inline constexpr char kEdThumbprint[] = "dDmTMhJb-8Vn1NbjkssUbMlcHiTMvpvxnGxfa9u-4P8";

// Claims of both node tokens: sub user-1, sid s-1, amr [pwd], iss https://gatehouse.test,
// aud api, iat 1700000000, exp 1700003600, jti j-1; header typ at+jwt, kid the thumbprint.
// The ES256 one happens to carry a high S (node does not normalise it).
inline constexpr char kNodeEs256Token[] =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImdteV9Fc1RFR0VHOUtvb0lTLVNZNTRObHRmM05nNE"
    "5SbVZMb0JfLVIzeE0ifQ.eyJzdWIiOiJ1c2VyLTEiLCJzaWQiOiJzLTEiLCJhbXIiOlsicHdkIl0sImlzcyI6Imh0dH"
    "BzOi8vZ2F0ZWhvdXNlLnRlc3QiLCJhdWQiOiJhcGkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMCwian"
    "RpIjoiai0xIn0.X-w07_A1_UkVVNWH55Ea6pouLxFL2xwRJmZSw47gsviNxokFfYW9QxI9i4mku6INyA8vuNhrjChYND"
    "fs3lBhIA";
// The same token with S replaced by n - S (computed with Python integers): the low-S twin.
inline constexpr char kNodeEs256TokenLowS[] =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImdteV9Fc1RFR0VHOUtvb0lTLVNZNTRObHRmM05nNE"
    "5SbVZMb0JfLVIzeE0ifQ.eyJzdWIiOiJ1c2VyLTEiLCJzaWQiOiJzLTEiLCJhbXIiOlsicHdkIl0sImlzcyI6Imh0dH"
    "BzOi8vZ2F0ZWhvdXNlLnRlc3QiLCJhdWQiOiJhcGkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMCwian"
    "RpIjoiai0xIn0.X-w07_A1_UkVVNWH55Ea6pouLxFL2xwRJmZSw47gsvhyOXb5gnpCve3CdHZbRF3x9NfK9M6sElybhZ"
    "LWHhLEMQ";
inline constexpr char kNodeEdDsaToken[] =
    "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImREbVRNaEpiLThWbjFOYmprc3NVYk1sY0hpVE12cH"
    "Z4bkd4ZmE5dS00UDgifQ.eyJzdWIiOiJ1c2VyLTEiLCJzaWQiOiJzLTEiLCJhbXIiOlsicHdkIl0sImlzcyI6Imh0d"
    "HBzOi8vZ2F0ZWhvdXNlLnRlc3QiLCJhdWQiOiJhcGkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMCwi"
    "anRpIjoiai0xIn0._ANn00qMM6L8R5OODR0fYZOQT0Z0cmnpp03Q8shpCjAPWXwgNTyVOpckJAkK4mvF3fF5A1iCRAk"
    "cZsvcWp7CCw";

// An RSA 2048 public key (`openssl genpkey -algorithm RSA`) as node's jose exported it,
// its thumbprint from calculateJwkThumbprint, and a token it signed with SignJWT: header
// alg RS256, kid rsa-1, typ JWT; claims sub user-1, nonce n-1, iss https://idp.test, aud
// client-1, iat 1700000000, exp 1700003600. Gatehouse only verifies RS256 (providers' ID
// tokens), so no private half is kept.
inline constexpr char kRsaN[] =
    "tkMVVAfjJUBYhKTg12zArNedlVpXDEYcyBexVfDdrdx8EDb5C2hI6Nx5ez-Sib27qYh6trqyvSFnne2XPd8cn_JF"
    "94TeotIghCcoSelYqBtA-9gACPYanG0OmvC_7dkRHy21Ww6mW5kkbq3NI2anMs0WBuJFvqKc8c39pJjb1VxpEfDi"
    "Jc5bud2LkXydKb4ZY643hptOB_8OdZBI7lXAQqM4COo838TOV1-D6HIzTfT8XPnzEeAfN5QvWpzP_ezg96-0gO6H"
    "jcTk9lU_CiVdLuNQl69ZbYKdjbvyvXR77sHMkSMQRA2euM9kI2LTw0ZZ_NyM1Tt5tfUzrvXSK0U2Gw";
inline constexpr char kRsaE[] = "AQAB";
inline constexpr char kRsaThumbprint[] = "L7fmZBz6OdXDl_Q5Ot5hkrWp-qh0egvxZ08WGMs_F4g";
inline constexpr char kNodeRs256Token[] =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyLTEiLCJub25jZSI6"
    "Im4tMSIsImlzcyI6Imh0dHBzOi8vaWRwLnRlc3QiLCJhdWQiOiJjbGllbnQtMSIsImlhdCI6MTcwMDAwMDAwMCwi"
    "ZXhwIjoxNzAwMDAzNjAwfQ.hsmwv9QqeoOnjsV0HJRUExPAkeYlMvxMJw1nSfHJZ0sSxJo1VimXR5dwPMX7Z90dY"
    "IQE4Y1KBEY2b8_WGKlfkmnc37Uiz7ebeuRrANy45Mac9ioRGR48OefmAUtHAckDsGRMBnyWred09_gdjo1UOuwZU"
    "lQuzaTGqK2u30ILgtjVCwcjGuMP82fSHnTt5ejysDIHFGayASw-Rd_7qY2w29ojmrRnia5IWQsHu2-Ra5s4CdILv"
    "1dcw7h1A9yS6Q6-89sBnnoqiU6GHNysb-qX1EIN9ddM1SRyJq1dfQtD7clg8qqea6Zqm_YbUjdL-DDzA3HSvx8uQ"
    "n43pwsig-Zedg";

// A 32-byte HS256 secret used across the tests.
inline const Secret& HsSecret() {
  static const Secret secret(std::string_view("0123456789abcdef0123456789abcdef"));
  return secret;
}

template <typename T>
T Must(Result<T> result) {
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().detail());
  return std::move(result).value();
}

inline std::string B64(std::string_view text) { return Base64UrlEncode(text); }

// header.payload.signature with `signer` signing whatever header and payload text is
// given: the way to build well-signed hostile tokens.
inline std::string SignRaw(std::string_view header_json, std::string_view payload_json,
                           const SigningKey& signer) {
  std::string input = B64(header_json) + "." + B64(payload_json);
  return input + "." + Base64UrlEncode(Must(signer.Sign(input)));
}

}  // namespace gatehouse::crypto::jose_test
