/*
 * checkchar.h — check characters of the platform's identifiers: USCC MOD 31
 * (GB 32100-2015), ISO/IEC 7064 MOD 11,10 (licence numbers), Damm (trace
 * codes) and GS1 mod 10 (GTIN and other GS1 keys). Pure C, no PostgreSQL
 * headers: shared by the extension, shilian-verify and the unit tests.
 */
#ifndef SHILIAN_CHECKCHAR_H
#define SHILIAN_CHECKCHAR_H

#include <stdbool.h>
#include <stddef.h>

/* ---- USCC, GB 32100-2015 -------------------------------------------------- */

#define SL_USCC_LEN 18

/*
 * The 31 characters of the code in value order: 0-9 A-H J-N P-R T U W-Y
 * (no I, O, S, V, Z). Value order is also ASCII order.
 */
extern const char sl_uscc_charset[32];

/* Value 0..30 of an (upper-case) USCC character; -1 if not in the set. */
int sl_uscc_char_value(int c);

/*
 * The check character for the first 17 characters of a code:
 * C18 = (31 - Σ(value_i · 3^(i-1) mod 31) mod 31) mod 31, as a character.
 * Returns 0 if one of the 17 characters is outside the set.
 */
char sl_uscc_check_char(const char *first17);

/* ---- ISO/IEC 7064 MOD 11,10 ----------------------------------------------- */

/* The check digit ('0'..'9') for n decimal digits; 0 if one is not a digit. */
char sl_mod11_10_check_digit(const char *digits, size_t n);

/* ---- Damm (quasigroup of order 10, totally anti-symmetric) --------------- */

/*
 * The check digit ('0'..'9') to append to n decimal digits so that the
 * Damm interim of the whole string is 0; 0 if one is not a digit. Detects
 * every single-digit error and every adjacent transposition.
 */
char sl_damm_check_digit(const char *digits, size_t n);

/* True iff the n digits (check digit last) are all digits with interim 0. */
bool sl_damm_valid(const char *digits, size_t n);

/* ---- GS1 mod 10 (GS1 General Specifications 7.9.1) ------------------------ */

/*
 * The check digit ('0'..'9') for n data digits (weights 3, 1, 3, … from the
 * right-most data digit); 0 if one is not a digit.
 */
char sl_gs1_check_digit(const char *digits, size_t n);

/* True iff the n digits (check digit last, n >= 2) are digits and check out. */
bool sl_gs1_valid(const char *digits, size_t n);

#endif
