#include "core/config_oidc.h"

#include <boost/url/parse.hpp>

#include <cctype>
#include <set>

namespace gatehouse::core::config_internal {
namespace {

constexpr std::size_t kMaxProviderId = 32;
constexpr std::size_t kMaxClientId = 512;
constexpr std::size_t kMaxUrl = 2048;
constexpr std::size_t kPinBase64Size = 44;  // base64 of a SHA-256 digest.
constexpr std::string_view kGoogleIssuer = "https://accounts.google.com";

std::string AtLineOf(const toml::node& node) {
  const auto line = node.source().begin.line;
  return line == 0 ? std::string() : " (line " + std::to_string(line) + ")";
}

bool IsProviderId(std::string_view id) {
  if (id.empty() || id.size() > kMaxProviderId) return false;
  for (unsigned char ch : id) {
    if (!(std::islower(ch) != 0 || std::isdigit(ch) != 0 || ch == '_' || ch == '-')) return false;
  }
  return true;
}

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

// An absolute http(s) URL without userinfo or fragment. https always; http only for a
// loopback host in development (a provider run on the operator's own machine).
std::string CheckUrl(std::string_view text, Profile profile, bool allow_query) {
  if (text.empty() || text.size() > kMaxUrl) return "must be an https URL";
  auto url = boost::urls::parse_absolute_uri(text);
  if (!url) return "must be an https URL";
  if (url->has_userinfo()) return "must not hold a user name or password";
  if (url->has_fragment()) return "must not hold a fragment";
  if (!allow_query && url->has_query()) return "must not hold a query";
  if (url->host().empty()) return "must name a host";
  if (url->scheme() == "https") return {};
  if (url->scheme() == "http" && profile == Profile::kDevelopment &&
      IsLoopbackHost(url->encoded_host())) {
    return {};
  }
  return profile == Profile::kDevelopment
             ? "must be an https URL (http only for localhost in development)"
             : "must be an https URL";
}

std::string CheckScopes(std::string_view scopes) {
  bool openid = false;
  std::size_t start = 0;
  while (start <= scopes.size()) {
    std::size_t end = scopes.find(' ', start);
    if (end == std::string_view::npos) end = scopes.size();
    const std::string_view scope = scopes.substr(start, end - start);
    // RFC 6749 section 3.3: scope tokens are printable ASCII without space, '"' or '\'.
    if (scope.empty()) return "must be scope names separated by single spaces";
    for (unsigned char ch : scope) {
      if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\') {
        return "must be scope names separated by single spaces";
      }
    }
    if (scope == "openid") openid = true;
    start = end + 1;
  }
  if (!openid) return "must include openid";
  return {};
}

std::string CheckPins(std::string_view pins) {
  if (pins.empty()) return {};
  std::size_t start = 0;
  while (start <= pins.size()) {
    std::size_t end = pins.find(';', start);
    if (end == std::string_view::npos) end = pins.size();
    const std::string_view pin = pins.substr(start, end - start);
    if (pin.substr(0, 8) != "sha256//" || pin.size() != 8 + kPinBase64Size) {
      return "must be sha256//<base64 of 32 bytes> entries separated by ';'";
    }
    for (unsigned char ch : pin.substr(8)) {
      if (!(std::isalnum(ch) != 0 || ch == '+' || ch == '/' || ch == '=')) {
        return "must be sha256//<base64 of 32 bytes> entries separated by ';'";
      }
    }
    start = end + 1;
  }
  return {};
}

std::string Printable(std::string_view text, std::size_t max) {
  if (text.empty() || text.size() > max) return "must be 1.." + std::to_string(max) + " bytes";
  for (unsigned char ch : text) {
    if (ch < 0x21 || ch > 0x7e) return "must be printable ASCII without spaces";
  }
  return {};
}

// Reads one provider table. `path` is the label problems start with.
void ReadProvider(const toml::table& table, std::size_t index, const Origin& origin,
                  const Config& config, OidcProviderConfig& p, std::vector<std::string>& errors) {
  p.source_line = table.source().begin.line;
  std::string path = "oidc.providers[#" + std::to_string(index + 1) + "]";
  if (const toml::node* id = table.get("id")) {
    if (id->is_string() && IsProviderId(id->as_string()->get())) {
      p.id = id->as_string()->get();
      path = OidcProviderPath(p);
    } else {
      errors.push_back(path + ".id: must be 1..32 of [a-z0-9_-]" + AtLineOf(*id));
    }
  } else {
    errors.push_back(path + ".id: missing" + AtLineOf(table));
  }

  for (const auto& [name, node] : table) {
    const std::string_view key = name.str();
    const std::string label = path + "." + std::string(key);
    auto text = [&](std::string& out) {
      if (!node.is_string()) {
        errors.push_back(label + ": expected a string" + AtLineOf(node));
        return false;
      }
      out = node.as_string()->get();
      return true;
    };
    auto flag = [&](bool& out) {
      if (!node.is_boolean()) {
        errors.push_back(label + ": expected a boolean" + AtLineOf(node));
        return;
      }
      out = node.as_boolean()->get();
    };
    auto check = [&](const std::string& problem) {
      if (!problem.empty()) errors.push_back(label + ": " + problem + AtLineOf(node));
    };

    if (key == "id") continue;
    if (key == "client_secret") {
      errors.push_back(label +
                       ": secrets may not be written in the config file; use "
                       "client_secret_file or " +
                       OidcSecretVar(p.id.empty() ? "<id>" : p.id) + "[_FILE]" + AtLineOf(node));
    } else if (key == "preset") {
      if (text(p.preset) && p.preset != "google") check("must be \"google\" or absent");
    } else if (key == "issuer") {
      if (text(p.issuer)) check(CheckUrl(p.issuer, config.profile, /*allow_query=*/false));
    } else if (key == "client_id") {
      if (text(p.client_id)) check(Printable(p.client_id, kMaxClientId));
    } else if (key == "client_secret_file") {
      std::string file;
      if (text(file)) {
        std::filesystem::path resolved(file);
        if (resolved.is_relative()) resolved = origin.base / resolved;
        p.client_secret.file = resolved.lexically_normal();
      }
    } else if (key == "scopes") {
      if (text(p.scopes)) check(CheckScopes(p.scopes));
    } else if (key == "redirect_uri") {
      if (text(p.redirect_uri)) {
        check(CheckUrl(p.redirect_uri, config.profile, /*allow_query=*/false));
      }
    } else if (key == "token_auth") {
      if (text(p.token_auth) && p.token_auth != "client_secret_basic" &&
          p.token_auth != "client_secret_post") {
        check("must be \"client_secret_basic\" or \"client_secret_post\"");
      }
    } else if (key == "link_by_email") {
      flag(p.link_by_email);
    } else if (key == "create_accounts") {
      flag(p.create_accounts);
    } else if (key == "pinned_public_keys") {
      if (text(p.pinned_public_keys)) check(CheckPins(p.pinned_public_keys));
    } else if (key == "ca_file") {
      std::string file;
      if (text(file) && !file.empty()) {
        std::filesystem::path resolved(file);
        if (resolved.is_relative()) resolved = origin.base / resolved;
        p.ca_file = resolved.lexically_normal();
      }
    } else if (key == "verify_tls") {
      flag(p.verify_tls);
      // Without verification anyone on the path can answer for the provider and sign
      // people in as whomever they like.
      if (!p.verify_tls && config.profile != Profile::kDevelopment) {
        check("may be false only in the development profile");
      }
    } else {
      errors.push_back(label + ": unknown key" + AtLineOf(node));
    }
  }

  // The preset fills in what it knows; a conflicting value is a mistake worth stopping for.
  if (p.preset == "google") {
    if (p.issuer.empty()) {
      p.issuer = kGoogleIssuer;
    } else if (p.issuer != kGoogleIssuer) {
      errors.push_back(path + ".issuer: the google preset's issuer is " +
                       std::string(kGoogleIssuer));
    }
  }
  if (p.issuer.empty()) errors.push_back(path + ".issuer: missing");
  if (p.client_id.empty()) errors.push_back(path + ".client_id: missing");
  if (p.redirect_uri.empty()) {
    errors.push_back(path + ".redirect_uri: missing");
  } else if (!p.id.empty()) {
    // The provider sends the browser back here; a URI for another route or provider would
    // fail every sign-in at the callback, so say it now.
    const std::string want = "/v1/auth/oidc/" + p.id + "/callback";
    auto url = boost::urls::parse_absolute_uri(p.redirect_uri);
    if (url && url->encoded_path() != want) {
      errors.push_back(path + ".redirect_uri: its path must be " + want);
    }
  }
}

}  // namespace

std::string OidcSecretVar(std::string_view id) {
  std::string name = "GATEHOUSE_OIDC_";
  for (unsigned char ch : id) {
    name += ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
  }
  return name + "_CLIENT_SECRET";
}

std::string OidcProviderPath(const OidcProviderConfig& provider) {
  return "oidc.providers[" + provider.id + "]";
}

void ApplyOidcProviders(const toml::node& node, const Origin& origin, Config& config,
                        std::vector<std::string>& errors) {
  const toml::array* list = node.as_array();
  if (list == nullptr || !list->is_array_of_tables()) {
    errors.push_back("oidc.providers: expected [[oidc.providers]] tables" + AtLineOf(node));
    return;
  }
  std::set<std::string> ids;
  for (std::size_t i = 0; i < list->size(); ++i) {
    OidcProviderConfig provider;
    ReadProvider(*list->get(i)->as_table(), i, origin, config, provider, errors);
    // Two ids that differ only in '-' and '_' would share one secret variable.
    const std::string secret_var = OidcSecretVar(provider.id);
    if (!provider.id.empty() && !ids.insert(secret_var).second) {
      errors.push_back(OidcProviderPath(provider) + ".id: used by another provider");
    }
    config.oidc.providers.push_back(std::move(provider));
  }
}

void CheckOidcProviders(const Config& config, std::vector<std::string>& errors) {
  for (const OidcProviderConfig& p : config.oidc.providers) {
    if (p.id.empty() || p.client_secret.present()) continue;
    const std::string var = OidcSecretVar(p.id);
    errors.push_back(OidcProviderPath(p) +
                     ".client_secret: missing; set client_secret_file in "
                     "its table, " +
                     var + "_FILE or " + var);
  }
}

std::string RenderOidcProviders(const Config& config) {
  std::string out;
  for (const OidcProviderConfig& p : config.oidc.providers) {
    out += "\n[[oidc.providers]]\n";
    out += "id = " + TomlString(p.id) + "\n";
    if (!p.preset.empty()) out += "preset = " + TomlString(p.preset) + "\n";
    out += "issuer = " + TomlString(p.issuer) + "\n";
    out += "client_id = " + TomlString(p.client_id) + "\n";
    out += "client_secret = " + RenderSecretState(p.client_secret) + "\n";
    out += "scopes = " + TomlString(p.scopes) + "\n";
    out += "redirect_uri = " + TomlString(p.redirect_uri) + "\n";
    out += "token_auth = " + TomlString(p.token_auth) + "\n";
    out += std::string("link_by_email = ") + (p.link_by_email ? "true" : "false") + "\n";
    out += std::string("create_accounts = ") + (p.create_accounts ? "true" : "false") + "\n";
    out += "pinned_public_keys = " + TomlString(p.pinned_public_keys) + "\n";
    out += "ca_file = " + TomlString(p.ca_file.string()) + "\n";
    out += std::string("verify_tls = ") + (p.verify_tls ? "true" : "false") + "\n";
  }
  return out;
}

}  // namespace gatehouse::core::config_internal
