// The libpq functions the PostgreSQL store calls, forwarded to libpq opened on first use (see
// core/lazy_library.h for why: libpq brings Kerberos, LDAP, SASL and GnuTLS with it, megabytes
// of resident memory in every process, also in one that stores its data in SQLite). The
// binary does not link libpq; postgres_store.cc calls these as it would call libpq.
//
// Only what postgres_store.cc uses is here. Code that calls another libpq function gets an
// undefined-symbol error at link time: add a forwarder for it below.
//
// Hidden visibility keeps these out of the process's dynamic symbol table, so libpq's own
// internal calls can never bind to them. Without libpq there are no connections and no
// results, so every call on one gets the answer libpq gives for a null one.

#include <libpq-fe.h>

#include <string>

#include "core/lazy_library.h"

namespace {

gatehouse::core::LazyLibrary& Libpq() {
  static gatehouse::core::LazyLibrary library("libpq.so.5");
  return library;
}

// The real function `name`, resolved once; nullptr when libpq cannot be loaded.
template <typename Fn>
Fn* Real(const char* name) {
  return reinterpret_cast<Fn*>(Libpq().Symbol(name));
}

}  // namespace

#pragma GCC visibility push(hidden)

extern "C" {

PQconninfoOption* PQconninfoParse(const char* conninfo, char** errmsg) {
  static auto* const real = Real<PQconninfoOption*(const char*, char**)>("PQconninfoParse");
  if (real != nullptr) return real(conninfo, errmsg);
  if (errmsg != nullptr) *errmsg = nullptr;
  return nullptr;
}

void PQconninfoFree(PQconninfoOption* options) {
  static auto* const real = Real<void(PQconninfoOption*)>("PQconninfoFree");
  if (real != nullptr) real(options);
}

void PQfreemem(void* ptr) {
  static auto* const real = Real<void(void*)>("PQfreemem");
  if (real != nullptr) real(ptr);
}

PGconn* PQconnectdbParams(const char* const* keywords, const char* const* values,
                          int expand_dbname) {
  static auto* const real =
      Real<PGconn*(const char* const*, const char* const*, int)>("PQconnectdbParams");
  return real != nullptr ? real(keywords, values, expand_dbname) : nullptr;
}

void PQfinish(PGconn* conn) {
  static auto* const real = Real<void(PGconn*)>("PQfinish");
  if (real != nullptr) real(conn);
}

ConnStatusType PQstatus(const PGconn* conn) {
  static auto* const real = Real<ConnStatusType(const PGconn*)>("PQstatus");
  return real != nullptr ? real(conn) : CONNECTION_BAD;
}

PGTransactionStatusType PQtransactionStatus(const PGconn* conn) {
  static auto* const real = Real<PGTransactionStatusType(const PGconn*)>("PQtransactionStatus");
  return real != nullptr ? real(conn) : PQTRANS_UNKNOWN;
}

char* PQerrorMessage(const PGconn* conn) {
  static auto* const real = Real<char*(const PGconn*)>("PQerrorMessage");
  if (real != nullptr) return real(conn);
  static std::string message = "libpq could not be loaded: " + Libpq().error();
  return message.data();
}

PQnoticeProcessor PQsetNoticeProcessor(PGconn* conn, PQnoticeProcessor proc, void* arg) {
  static auto* const real =
      Real<PQnoticeProcessor(PGconn*, PQnoticeProcessor, void*)>("PQsetNoticeProcessor");
  return real != nullptr ? real(conn, proc, arg) : nullptr;
}

PGresult* PQexec(PGconn* conn, const char* query) {
  static auto* const real = Real<PGresult*(PGconn*, const char*)>("PQexec");
  return real != nullptr ? real(conn, query) : nullptr;
}

PGresult* PQexecParams(PGconn* conn, const char* command, int n_params, const Oid* param_types,
                       const char* const* param_values, const int* param_lengths,
                       const int* param_formats, int result_format) {
  static auto* const real =
      Real<PGresult*(PGconn*, const char*, int, const Oid*, const char* const*, const int*,
                     const int*, int)>("PQexecParams");
  if (real == nullptr) return nullptr;
  return real(conn, command, n_params, param_types, param_values, param_lengths, param_formats,
              result_format);
}

void PQclear(PGresult* res) {
  static auto* const real = Real<void(PGresult*)>("PQclear");
  if (real != nullptr) real(res);
}

ExecStatusType PQresultStatus(const PGresult* res) {
  static auto* const real = Real<ExecStatusType(const PGresult*)>("PQresultStatus");
  return real != nullptr ? real(res) : PGRES_FATAL_ERROR;
}

char* PQresultErrorField(const PGresult* res, int fieldcode) {
  static auto* const real = Real<char*(const PGresult*, int)>("PQresultErrorField");
  return real != nullptr ? real(res, fieldcode) : nullptr;
}

char* PQcmdStatus(PGresult* res) {
  static auto* const real = Real<char*(PGresult*)>("PQcmdStatus");
  return real != nullptr ? real(res) : nullptr;
}

char* PQcmdTuples(PGresult* res) {
  static auto* const real = Real<char*(PGresult*)>("PQcmdTuples");
  static char empty[] = "";
  return real != nullptr ? real(res) : empty;
}

int PQntuples(const PGresult* res) {
  static auto* const real = Real<int(const PGresult*)>("PQntuples");
  return real != nullptr ? real(res) : 0;
}

int PQnfields(const PGresult* res) {
  static auto* const real = Real<int(const PGresult*)>("PQnfields");
  return real != nullptr ? real(res) : 0;
}

char* PQfname(const PGresult* res, int field_num) {
  static auto* const real = Real<char*(const PGresult*, int)>("PQfname");
  return real != nullptr ? real(res, field_num) : nullptr;
}

Oid PQftype(const PGresult* res, int field_num) {
  static auto* const real = Real<Oid(const PGresult*, int)>("PQftype");
  return real != nullptr ? real(res, field_num) : InvalidOid;
}

char* PQgetvalue(const PGresult* res, int tup_num, int field_num) {
  static auto* const real = Real<char*(const PGresult*, int, int)>("PQgetvalue");
  return real != nullptr ? real(res, tup_num, field_num) : nullptr;
}

int PQgetlength(const PGresult* res, int tup_num, int field_num) {
  static auto* const real = Real<int(const PGresult*, int, int)>("PQgetlength");
  return real != nullptr ? real(res, tup_num, field_num) : 0;
}

int PQgetisnull(const PGresult* res, int tup_num, int field_num) {
  static auto* const real = Real<int(const PGresult*, int, int)>("PQgetisnull");
  return real != nullptr ? real(res, tup_num, field_num) : 1;
}

}  // extern "C"

#pragma GCC visibility pop
