/*
 * validate.c
 *		Shapes of values: ICCID, IMSI, MSISDN, E.164 phone numbers, URLs,
 *		e-mail addresses, ISO 3166-1 country and ISO 4217 currency codes, and
 *		the checks every text argument of the extension goes through.
 *
 * The predicates work on NUL-terminated C strings and never throw, so the
 * SQL-callable wrappers can be IMMUTABLE and PARALLEL SAFE.  Character
 * classes are tested by hand rather than with <ctype.h>, whose answers
 * depend on the server's locale; the shapes checked here are ASCII by
 * definition.
 */
#include "postgres.h"

#include <stdlib.h>

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "reseller_onboarding.h"

/* The longest URL we accept; the de-facto limit of browsers and proxies. */
#define URL_MAX_LENGTH		2048
/* RFC 5321: forward-path 256 octets minus the angle brackets. */
#define EMAIL_MAX_LENGTH	254
/* RFC 5321 section 4.5.3.1.1 */
#define EMAIL_LOCAL_MAX_LENGTH	64
/* RFC 1035 section 2.3.4 */
#define HOST_MAX_LENGTH		253
#define HOST_LABEL_MAX_LENGTH	63

static inline bool
IsAsciiDigit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
IsAsciiUpper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static inline bool
IsAsciiAlnum(char c)
{
	return IsAsciiDigit(c) || IsAsciiUpper(c) || (c >= 'a' && c <= 'z');
}

/* Bytes that are never acceptable inside a value: C0 controls and DEL. */
static inline bool
IsControlByte(char c)
{
	unsigned char u = (unsigned char) c;

	return u < 0x20 || u == 0x7F;
}

static bool
AllDigits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		if (!IsAsciiDigit(s[i]))
			return false;
	}
	return true;
}

static bool
DigitsOfLength(const char *s, size_t minlen, size_t maxlen)
{
	size_t		len;

	if (s == NULL)
		return false;
	len = strlen(s);
	return len >= minlen && len <= maxlen && AllDigits(s, len);
}

/*
 * Luhn (ISO/IEC 7812-1) over the whole number, check digit included: the
 * sum is a multiple of ten exactly when the last digit is the right one.
 */
static bool
LuhnHolds(const char *digits, size_t len)
{
	int			sum = 0;
	bool		doubled = false;

	for (size_t i = len; i > 0; i--)
	{
		int			d = digits[i - 1] - '0';

		if (doubled)
		{
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
		doubled = !doubled;
	}
	return sum % 10 == 0;
}

/*
 * A DNS host name: dot-separated labels of letters, digits and hyphens.
 * Hyphens may not start or end a label, which rules out punycode mistakes
 * and things like "-.example" that no resolver accepts.
 */
static bool
HostnameIsValid(const char *host, size_t len, bool need_dot)
{
	size_t		label = 0;
	bool		seen_dot = false;

	if (len == 0 || len > HOST_MAX_LENGTH)
		return false;

	for (size_t i = 0; i < len; i++)
	{
		char		c = host[i];

		if (c == '.')
		{
			if (label == 0 || host[i - 1] == '-')
				return false;
			label = 0;
			seen_dot = true;
		}
		else if (IsAsciiAlnum(c) || c == '-')
		{
			if (c == '-' && label == 0)
				return false;
			if (++label > HOST_LABEL_MAX_LENGTH)
				return false;
		}
		else
			return false;
	}
	/* the last label: not empty, not ending in a hyphen */
	if (label == 0 || host[len - 1] == '-')
		return false;
	return seen_dot || !need_dot;
}

/* ---- subscriber identities ---- */

/*
 * ICCID (ITU-T E.118): major industry identifier 89 (telecommunications),
 * 18 or 19 digits of identification, one Luhn check digit.  The reasons
 * are checked in the order a person fixing the value needs them.
 */
const char *
IccidProblem(const char *s)
{
	size_t		len;

	if (s == NULL)
		return "wrong length";
	len = strlen(s);
	if (!AllDigits(s, len))
		return "not only digits";
	if (len != 19 && len != 20)
		return "wrong length";
	if (s[0] != '8' || s[1] != '9')
		return "does not start with 89";
	if (!LuhnHolds(s, len))
		return "bad check digit";
	return NULL;
}

bool
IccidIsValid(const char *s)
{
	return s != NULL && IccidProblem(s) == NULL;
}

/* IMSI (ITU-T E.212): MCC + MNC + MSIN, always 15 digits. */
bool
ImsiIsValid(const char *s)
{
	return DigitsOfLength(s, 15, 15);
}

/*
 * MSISDN in international format without the '+' (ITU-T E.164).  Eight
 * digits is the shortest a country code plus a subscriber number gets.
 */
bool
MsisdnIsValid(const char *s)
{
	return DigitsOfLength(s, 8, 15);
}

/* E.164: '+', a country code that never starts with 0, at most 15 digits. */
bool
PhoneIsValid(const char *s)
{
	if (s == NULL || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return false;
	return DigitsOfLength(s + 1, 2, 15);
}

/* ---- URLs and e-mail addresses ---- */

/*
 * Absolute http(s) URLs only: other schemes (javascript:, data:, file:)
 * are how a stored link turns into an attack on whoever clicks it.  User
 * information ("http://user@host") is refused too, since it is the usual
 * way to make a link look like it points somewhere it does not.
 *
 * RFC 3986 URLs are printable ASCII; anything else must be percent-encoded.
 * Holding to that rejects spaces and control characters, and with them
 * Unicode spaces, C1 controls and bidirectional overrides that would make
 * the link display differently from where it goes.
 */
bool
UrlIsValid(const char *s)
{
	size_t		len;
	const char *host;
	const char *p;

	if (s == NULL)
		return false;
	len = strlen(s);
	if (len > URL_MAX_LENGTH)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c <= 0x20 || c >= 0x7F)
			return false;
	}

	if (pg_strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (pg_strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return false;

	p = host;
	while (IsAsciiAlnum(*p) || *p == '-' || *p == '.')
		p++;
	if (!HostnameIsValid(host, p - host, false))
		return false;

	if (*p == ':')
	{
		long		port = 0;
		int			ndigits = 0;

		p++;
		while (IsAsciiDigit(*p))
		{
			if (++ndigits > 5)
				return false;
			port = port * 10 + (*p - '0');
			p++;
		}
		if (ndigits == 0 || port < 1 || port > 65535)
			return false;
	}

	return *p == '\0' || *p == '/' || *p == '?' || *p == '#';
}

/*
 * A deliberately plain address: printable ASCII local part, DNS domain with
 * at least one dot.  Quoted local parts and address literals are legal but
 * are not something a reseller's contact address should need.
 */
bool
EmailIsValid(const char *s)
{
	const char *at;
	size_t		len;
	size_t		local_len;

	if (s == NULL)
		return false;
	len = strlen(s);
	if (len > EMAIL_MAX_LENGTH)
		return false;

	at = strchr(s, '@');
	if (at == NULL || strchr(at + 1, '@') != NULL)
		return false;

	local_len = at - s;
	if (local_len == 0 || local_len > EMAIL_LOCAL_MAX_LENGTH)
		return false;
	for (size_t i = 0; i < local_len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c <= 0x20 || c >= 0x7F)
			return false;
	}

	return HostnameIsValid(at + 1, len - local_len - 1, true);
}

/* ---- ISO code lists ---- */

/*
 * ISO 3166-1 alpha-2, officially assigned codes only: no user-assigned
 * (XA..XZ, AA, QM..QZ, ZZ), exceptionally reserved (EU, UK, UN) or
 * transitionally reserved codes.  Kept sorted for bsearch.
 */
static const char country_codes[][3] = {
	"AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT",
	"AU", "AW", "AX", "AZ",
	"BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN",
	"BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ",
	"CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO",
	"CR", "CU", "CV", "CW", "CX", "CY", "CZ",
	"DE", "DJ", "DK", "DM", "DO", "DZ",
	"EC", "EE", "EG", "EH", "ER", "ES", "ET",
	"FI", "FJ", "FK", "FM", "FO", "FR",
	"GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP",
	"GQ", "GR", "GS", "GT", "GU", "GW", "GY",
	"HK", "HM", "HN", "HR", "HT", "HU",
	"ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT",
	"JE", "JM", "JO", "JP",
	"KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ",
	"LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY",
	"MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO",
	"MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ",
	"NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
	"OM",
	"PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT",
	"PW", "PY",
	"QA",
	"RE", "RO", "RS", "RU", "RW",
	"SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM",
	"SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ",
	"TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR",
	"TT", "TV", "TW", "TZ",
	"UA", "UG", "UM", "US", "UY", "UZ",
	"VA", "VC", "VE", "VG", "VI", "VN", "VU",
	"WF", "WS",
	"YE", "YT",
	"ZA", "ZM", "ZW",
};

StaticAssertDecl(lengthof(country_codes) == 249,
				 "ISO 3166-1 assigns 249 alpha-2 codes");

/*
 * ISO 4217 List One, active codes, including funds codes (BOV, CHE, CHW,
 * CLF, COU, MXV, USN, UYI, UYW), precious metals and the SDR.  Left out:
 * currencies that have been replaced (HRK by EUR, ANG by XCG, SLL by SLE,
 * ZWL by ZWG) and the codes that are not currencies at all: XTS, reserved
 * for testing, and XXX, "no currency involved".
 */
static const char currency_codes[][4] = {
	"AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN",
	"BAM", "BBD", "BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV",
	"BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
	"CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU",
	"CRC", "CUC", "CUP", "CVE", "CZK",
	"DJF", "DKK", "DOP", "DZD",
	"EGP", "ERN", "ETB", "EUR",
	"FJD", "FKP",
	"GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD",
	"HKD", "HNL", "HTG", "HUF",
	"IDR", "ILS", "INR", "IQD", "IRR", "ISK",
	"JMD", "JOD", "JPY",
	"KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
	"LAK", "LBP", "LKR", "LRD", "LSL", "LYD",
	"MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
	"MWK", "MXN", "MXV", "MYR", "MZN",
	"NAD", "NGN", "NIO", "NOK", "NPR", "NZD",
	"OMR",
	"PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG",
	"QAR",
	"RON", "RSD", "RUB", "RWF",
	"SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD",
	"SSP", "STN", "SVC", "SYP", "SZL",
	"THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS",
	"UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS",
	"VED", "VES", "VND", "VUV",
	"WST",
	"XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR",
	"XOF", "XPD", "XPF", "XPT", "XSU", "XUA",
	"YER",
	"ZAR", "ZMW", "ZWG",
};

static int
CompareCountry(const void *a, const void *b)
{
	return memcmp(a, b, 2);
}

static int
CompareCurrency(const void *a, const void *b)
{
	return memcmp(a, b, 3);
}

#ifdef USE_ASSERT_CHECKING
/* bsearch quietly gives wrong answers on an unsorted list */
static bool
CodesAreSorted(const void *codes, size_t n, size_t width,
			   int (*cmp) (const void *, const void *))
{
	const char *base = codes;

	for (size_t i = 1; i < n; i++)
	{
		if (cmp(base + (i - 1) * width, base + i * width) >= 0)
			return false;
	}
	return true;
}
#endif

static bool
UpperLettersOfLength(const char *s, size_t len)
{
	if (s == NULL || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (!IsAsciiUpper(s[i]))
			return false;
	}
	return true;
}

bool
CountryIsValid(const char *s)
{
	Assert(CodesAreSorted(country_codes, lengthof(country_codes),
						  sizeof(country_codes[0]), CompareCountry));

	if (!UpperLettersOfLength(s, 2))
		return false;
	return bsearch(s, country_codes, lengthof(country_codes),
				   sizeof(country_codes[0]), CompareCountry) != NULL;
}

bool
CurrencyIsValid(const char *s)
{
	Assert(CodesAreSorted(currency_codes, lengthof(currency_codes),
						  sizeof(currency_codes[0]), CompareCurrency));

	if (!UpperLettersOfLength(s, 3))
		return false;
	return bsearch(s, currency_codes, lengthof(currency_codes),
				   sizeof(currency_codes[0]), CompareCurrency) != NULL;
}

/* ---- text arguments ---- */

static inline bool
IsTrimmable(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Trimming first means a pasted value with a trailing newline is accepted,
 * while a newline in the middle (two values pasted into one field) is
 * reported.  maxlen counts characters, not bytes, so the limit a user reads
 * in the documentation is the one they hit; maxlen <= 0 means no limit.
 */
/*
 * Unicode characters that change how text is shown without being seen: C1
 * controls, zero-width characters, bidirectional overrides and isolates,
 * the byte order mark.  They make one name look like another.
 */
static bool
IsInvisibleCodePoint(pg_wchar c)
{
	return (c >= 0x80 && c <= 0x9F) ||
		(c >= 0x200B && c <= 0x200F) ||
		(c >= 0x202A && c <= 0x202E) ||
		(c >= 0x2060 && c <= 0x2069) ||
		c == 0xFEFF;
}

char *
CheckedText(const char *value, const char *name, bool required, int maxlen)
{
	const char *start;
	const char *end;
	char	   *result;

	if (value == NULL)
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errfield(name),
					 errmsg("%s must not be null", name)));
		return NULL;
	}

	start = value;
	while (IsTrimmable(*start))
		start++;
	end = start + strlen(start);
	while (end > start && IsTrimmable(end[-1]))
		end--;

	if (end == start)
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errfield(name),
					 errmsg("%s must not be empty", name)));
		return NULL;
	}

	for (const char *p = start; p < end; p++)
	{
		if (IsControlByte(*p))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errfield(name),
					 errmsg("%s contains a control character", name)));
	}
	if (GetDatabaseEncoding() == PG_UTF8)
	{
		int			pos = 1;

		for (const char *p = start; p < end; p += pg_utf_mblen((const unsigned char *) p), pos++)
		{
			pg_wchar	c = utf8_to_unicode((const unsigned char *) p);

			if (IsInvisibleCodePoint(c))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errfield(name),
						 errmsg("%s contains an invisible or control character", name),
						 errdetail("Character %d is U+%04X.", pos, (unsigned) c)));
		}
	}

	result = pnstrdup(start, end - start);

	if (maxlen > 0)
	{
		int			nchars = pg_mbstrlen(result);

		if (nchars > maxlen)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errfield(name),
					 errmsg("%s is too long", name),
					 errdetail("The value has %d characters; at most %d are allowed.",
							   nchars, maxlen)));
	}

	return result;
}

char *
ArgText(FunctionCallInfo fcinfo, int argno, const char *name, bool required,
		int maxlen)
{
	char	   *raw;
	char	   *result;

	if (PG_ARGISNULL(argno))
		return CheckedText(NULL, name, required, maxlen);

	raw = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	result = CheckedText(raw, name, required, maxlen);
	pfree(raw);
	return result;
}

void
RequireNotNull(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errfield(name),
				 errmsg("%s must not be null", name)));
}

/* ---- SQL-callable predicates ---- */

/*
 * All are declared STRICT, so the argument is never NULL here.  They judge
 * the value exactly as given: trimming is the job of the functions that
 * store values (through ArgText), not of a predicate a CHECK constraint may
 * call on what is already stored.
 */
static bool
TextSatisfies(text *value, bool (*predicate) (const char *))
{
	char	   *s = text_to_cstring(value);
	bool		result = predicate(s);

	pfree(s);
	return result;
}

PG_FUNCTION_INFO_V1(iccid_is_valid);
Datum
iccid_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TextSatisfies(PG_GETARG_TEXT_PP(0), IccidIsValid));
}

PG_FUNCTION_INFO_V1(imsi_is_valid);
Datum
imsi_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TextSatisfies(PG_GETARG_TEXT_PP(0), ImsiIsValid));
}

PG_FUNCTION_INFO_V1(msisdn_is_valid);
Datum
msisdn_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TextSatisfies(PG_GETARG_TEXT_PP(0), MsisdnIsValid));
}

PG_FUNCTION_INFO_V1(phone_is_valid);
Datum
phone_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TextSatisfies(PG_GETARG_TEXT_PP(0), PhoneIsValid));
}

PG_FUNCTION_INFO_V1(url_is_valid);
Datum
url_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TextSatisfies(PG_GETARG_TEXT_PP(0), UrlIsValid));
}

PG_FUNCTION_INFO_V1(email_is_valid);
Datum
email_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TextSatisfies(PG_GETARG_TEXT_PP(0), EmailIsValid));
}

PG_FUNCTION_INFO_V1(country_is_valid);
Datum
country_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TextSatisfies(PG_GETARG_TEXT_PP(0), CountryIsValid));
}

PG_FUNCTION_INFO_V1(currency_is_valid);
Datum
currency_is_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(TextSatisfies(PG_GETARG_TEXT_PP(0), CurrencyIsValid));
}

PG_FUNCTION_INFO_V1(iccid_problem);
Datum
iccid_problem(PG_FUNCTION_ARGS)
{
	char	   *value = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *problem = IccidProblem(value);

	pfree(value);
	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}
