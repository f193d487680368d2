// Unit tests for common/names: room names (Python's \w over strict UTF-8),
// percent-decoding, channels_redis group/channel name rules, group_for (its SHA-1 is
// common/digest, tested in digest_test.cpp).
// Why hard-coded expectations: every expected value (which code points are \w, which byte
// strings Python's UTF-8 decoder rejects, every SHA-1/group hash) was computed with Debian's
// /usr/bin/python3 (3.11.2: re, bytes.decode, hashlib), an independent implementation, so
// these tests pin our C++ to what Django Channels does. No sockets, no threads.
#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/names.hpp"

namespace {

using sb::common::decode_utf8;
using sb::common::group_for;
using sb::common::is_valid_channel_name;
using sb::common::is_valid_group_name;
using sb::common::is_valid_room_name;
using sb::common::is_word_char;
using sb::common::percent_decode;

// Repeats a UTF-8 string `n` times.
std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i) out.append(s);
    return out;
}

// ---------------------------------------------------------------- is_word_char

TEST(WordChar, AcceptsAsciiLettersDigitsAndUnderscore) {
    EXPECT_TRUE(is_word_char(U'a'));
    EXPECT_TRUE(is_word_char(U'Z'));
    EXPECT_TRUE(is_word_char(U'0'));
    EXPECT_TRUE(is_word_char(U'9'));
    EXPECT_TRUE(is_word_char(U'_'));
}

TEST(WordChar, RejectsAsciiPunctuationSpaceAndControl) {
    for (char32_t c : {U'-', U' ', U'.', U'/', U'!', U'%', U'\0', U'\n', U'\x7F'}) {
        EXPECT_FALSE(is_word_char(c)) << "U+" << std::hex << static_cast<unsigned>(c);
    }
}

// Expectations from: /usr/bin/python3 -c "import re; print(bool(re.match(r'\w', chr(0x...))))"
TEST(WordChar, MatchesPythonForLettersOfOtherScripts) {
    EXPECT_TRUE(is_word_char(0x0627));   // ARABIC LETTER ALEF (Lo)
    EXPECT_TRUE(is_word_char(0x4E2D));   // CJK ideograph (Lo)
    EXPECT_TRUE(is_word_char(0xB85C));   // HANGUL SYLLABLE RO (Lo)
    EXPECT_TRUE(is_word_char(0x20000));  // CJK Extension B (Lo), outside the BMP
    EXPECT_TRUE(is_word_char(0x1D400));  // MATHEMATICAL BOLD CAPITAL A (Lu)
    EXPECT_TRUE(is_word_char(0x00AA));   // FEMININE ORDINAL INDICATOR (Lo)
    EXPECT_TRUE(is_word_char(0x02C6));   // MODIFIER LETTER CIRCUMFLEX ACCENT (Lm)
}

TEST(WordChar, MatchesPythonForDigitsAndNumbersOfOtherScripts) {
    EXPECT_TRUE(is_word_char(0x096A));  // DEVANAGARI DIGIT FOUR (Nd)
    EXPECT_TRUE(is_word_char(0x0663));  // ARABIC-INDIC DIGIT THREE (Nd)
    EXPECT_TRUE(is_word_char(0xFF11));  // FULLWIDTH DIGIT ONE (Nd)
    EXPECT_TRUE(is_word_char(0x00B2));  // SUPERSCRIPT TWO (No)
    EXPECT_TRUE(is_word_char(0x00BD));  // VULGAR FRACTION ONE HALF (No)
    EXPECT_TRUE(is_word_char(0x2460));  // CIRCLED DIGIT ONE (No)
    EXPECT_TRUE(is_word_char(0x2160));  // ROMAN NUMERAL ONE (Nl)
    EXPECT_TRUE(is_word_char(0x3007));  // IDEOGRAPHIC NUMBER ZERO (Nl)
}

TEST(WordChar, RejectsMarksFormatCharsSymbolsAndUnassigned) {
    EXPECT_FALSE(is_word_char(0x0300));    // COMBINING GRAVE ACCENT (Mn): not \w in Python
    EXPECT_FALSE(is_word_char(0x094D));    // DEVANAGARI SIGN VIRAMA (Mn)
    EXPECT_FALSE(is_word_char(0x093E));    // DEVANAGARI VOWEL SIGN AA (Mc)
    EXPECT_FALSE(is_word_char(0x200D));    // ZERO WIDTH JOINER (Cf)
    EXPECT_FALSE(is_word_char(0x1F600));   // GRINNING FACE (So)
    EXPECT_FALSE(is_word_char(0x00A0));    // NO-BREAK SPACE (Zs)
    EXPECT_FALSE(is_word_char(0x00B7));    // MIDDLE DOT (Po)
    EXPECT_FALSE(is_word_char(0x10FFFF));  // unassigned (Cn)
}

TEST(WordChar, TableIsSortedDisjointAndWithinUnicode) {
    const auto table = sb::common::detail::word_table();
    ASSERT_FALSE(table.empty());
    for (std::size_t i = 0; i < table.size(); ++i) {
        EXPECT_LE(table[i].first, table[i].last);
        EXPECT_LE(table[i].last, char32_t{0x10FFFF});
        if (i > 0) {
            EXPECT_LT(table[i - 1].last + 1, table[i].first) << "ranges " << i - 1 << " and " << i;
        }
    }
}

TEST(WordChar, AcceptsEveryRangeEndpointAndRejectsTheirNeighbours) {
    // Ranges are merged, so the code point just outside each one is never a word char.
    for (const auto& r : sb::common::detail::word_table()) {
        EXPECT_TRUE(is_word_char(r.first));
        EXPECT_TRUE(is_word_char(r.last));
        if (r.first > 0) {
            EXPECT_FALSE(is_word_char(r.first - 1));
        }
        if (r.last < 0x10FFFF) {
            EXPECT_FALSE(is_word_char(r.last + 1));
        }
    }
}

// ---------------------------------------------------------------- decode_utf8

TEST(DecodeUtf8, DecodesAsciiAndMultiByteSequences) {
    EXPECT_EQ(decode_utf8(""), std::u32string{});
    EXPECT_EQ(decode_utf8("lobby"), std::u32string(U"lobby"));
    EXPECT_EQ(decode_utf8("\xEB\xA1\x9C\xEB\xB9\x84"), std::u32string(U"\uB85C\uBE44"));  // 로비
    EXPECT_EQ(decode_utf8("\xF0\x9F\x98\x80"), std::u32string(U"\U0001F600"));
}

TEST(DecodeUtf8, AcceptsTheBoundariesPythonAccepts) {
    EXPECT_EQ(decode_utf8("\xC2\x80"), std::u32string(U"\u0080"));
    EXPECT_EQ(decode_utf8("\xED\x9F\xBF"), std::u32string(U"\uD7FF"));
    EXPECT_EQ(decode_utf8("\xEE\x80\x80"), std::u32string(U"\uE000"));
    EXPECT_EQ(decode_utf8("\xF4\x8F\xBF\xBF"), std::u32string(U"\U0010FFFF"));
    EXPECT_EQ(decode_utf8(std::string_view("\0", 1)), std::u32string(1, U'\0'));
}

TEST(DecodeUtf8, RejectsOverlongEncodings) {
    EXPECT_FALSE(decode_utf8("\xC0\xAF"));
    EXPECT_FALSE(decode_utf8("\xC1\xBF"));
    EXPECT_FALSE(decode_utf8("\xE0\x80\xAF"));
    EXPECT_FALSE(decode_utf8("\xF0\x80\x80\xAF"));
}

TEST(DecodeUtf8, RejectsEncodedSurrogates) {
    EXPECT_FALSE(decode_utf8("\xED\xA0\x80"));  // U+D800
    EXPECT_FALSE(decode_utf8("\xED\xBF\xBF"));  // U+DFFF
}

TEST(DecodeUtf8, RejectsCodePointsAbove10FFFF) {
    EXPECT_FALSE(decode_utf8("\xF4\x90\x80\x80"));  // U+110000
    EXPECT_FALSE(decode_utf8("\xF5\x80\x80\x80"));
    EXPECT_FALSE(decode_utf8("\xFF"));
}

TEST(DecodeUtf8, RejectsTruncatedSequences) {
    EXPECT_FALSE(decode_utf8("\xE2\x82"));
    EXPECT_FALSE(decode_utf8("abc\xEB\xA1"));
    EXPECT_FALSE(decode_utf8("\xF0\x9F\x98"));
    EXPECT_FALSE(decode_utf8("\xC2"));
}

TEST(DecodeUtf8, RejectsLoneContinuationBytes) {
    EXPECT_FALSE(decode_utf8("\x80"));
    EXPECT_FALSE(decode_utf8("a\xBF" "b"));
    EXPECT_FALSE(decode_utf8("\xC2\x80\x80"));  // one continuation too many
}

TEST(DecodeUtf8, RejectsNonContinuationInsideASequence) {
    EXPECT_FALSE(decode_utf8("\xE2" "a" "\x82"));
    EXPECT_FALSE(decode_utf8("\xC2\xC2\x80"));
}

// ---------------------------------------------------------------- percent_decode

TEST(PercentDecode, LeavesPlainTextAndPlusAlone) {
    EXPECT_EQ(percent_decode("lobby"), std::string("lobby"));
    EXPECT_EQ(percent_decode("a+b"), std::string("a+b"));
    EXPECT_EQ(percent_decode(""), std::string());
}

TEST(PercentDecode, DecodesEitherHexCase) {
    EXPECT_EQ(percent_decode("%EB%A1%9C%EB%B9%84"), std::string("\xEB\xA1\x9C\xEB\xB9\x84"));
    EXPECT_EQ(percent_decode("%eb%a1%9c%eb%b9%84"), std::string("\xEB\xA1\x9C\xEB\xB9\x84"));
    EXPECT_EQ(percent_decode("a%2Fb%2fc"), std::string("a/b/c"));
    EXPECT_EQ(percent_decode("%25"), std::string("%"));
    EXPECT_EQ(percent_decode("%20"), std::string(" "));
    EXPECT_EQ(percent_decode("%00"), std::string(1, '\0'));
}

TEST(PercentDecode, DecodesEachEscapeOnlyOnce) {
    EXPECT_EQ(percent_decode("%2541"), std::string("%41"));
}

TEST(PercentDecode, RejectsBadEscapes) {
    EXPECT_FALSE(percent_decode("%"));
    EXPECT_FALSE(percent_decode("%G1"));
    EXPECT_FALSE(percent_decode("%1G"));
    EXPECT_FALSE(percent_decode("%4"));
    EXPECT_FALSE(percent_decode("abc%"));
    EXPECT_FALSE(percent_decode("abc%2"));
    EXPECT_FALSE(percent_decode("%%41"));
    EXPECT_FALSE(percent_decode("% 1"));
}

// ---------------------------------------------------------------- is_valid_room_name

TEST(RoomName, AcceptsAsciiLettersDigitsAndUnderscore) {
    EXPECT_TRUE(is_valid_room_name("lobby"));
    EXPECT_TRUE(is_valid_room_name("Room_42"));
    EXPECT_TRUE(is_valid_room_name("_"));
    EXPECT_TRUE(is_valid_room_name("7"));
}

TEST(RoomName, AcceptsKoreanLobby) {
    EXPECT_TRUE(is_valid_room_name("\xEB\xA1\x9C\xEB\xB9\x84"));  // 로비
}

TEST(RoomName, AcceptsPercentDecodedKoreanLobby) {
    const auto decoded = percent_decode("%EB%A1%9C%EB%B9%84");
    ASSERT_TRUE(decoded);
    EXPECT_TRUE(is_valid_room_name(*decoded));
}

TEST(RoomName, AcceptsDigitsOfOtherScripts) {
    EXPECT_TRUE(is_valid_room_name("\xD9\xA1\xD9\xA2\xD9\xA3"));  // Arabic-Indic ١٢٣
    EXPECT_TRUE(is_valid_room_name("\xE0\xA5\xAA"));              // Devanagari ४
    EXPECT_TRUE(is_valid_room_name("\xEF\xBC\x91"));              // fullwidth １
    EXPECT_TRUE(is_valid_room_name("\xC2\xB2"));                  // superscript ²
}

TEST(RoomName, RejectsPunctuationAndSpace) {
    EXPECT_FALSE(is_valid_room_name("chat-room"));
    EXPECT_FALSE(is_valid_room_name("chat room"));
    EXPECT_FALSE(is_valid_room_name("chat.room"));
    EXPECT_FALSE(is_valid_room_name("chat/room"));
    EXPECT_FALSE(is_valid_room_name("-"));
    EXPECT_FALSE(is_valid_room_name(" "));
    EXPECT_FALSE(is_valid_room_name("."));
    EXPECT_FALSE(is_valid_room_name("/"));
}

TEST(RoomName, RejectsEmoji) {
    EXPECT_FALSE(is_valid_room_name("\xF0\x9F\x98\x80"));
    EXPECT_FALSE(is_valid_room_name("lobby\xF0\x9F\x98\x80"));
}

TEST(RoomName, RejectsCombiningMarkAndZeroWidthJoiner) {
    EXPECT_FALSE(is_valid_room_name("e\xCC\x80"));  // e + U+0300
    EXPECT_FALSE(is_valid_room_name("a\xE2\x80\x8D" "b"));  // a ZWJ b
}

TEST(RoomName, RejectsEmpty) {
    EXPECT_FALSE(is_valid_room_name(""));
}

TEST(RoomName, RejectsNulAndControlCharacters) {
    EXPECT_FALSE(is_valid_room_name(std::string_view("a\0b", 3)));
    EXPECT_FALSE(is_valid_room_name("a\nb"));
}

TEST(RoomName, RejectsMalformedUtf8) {
    EXPECT_FALSE(is_valid_room_name("\xC0\xAF"));
    EXPECT_FALSE(is_valid_room_name("\xED\xA0\x80"));
    EXPECT_FALSE(is_valid_room_name("lobby\xEB\xA1"));
    EXPECT_FALSE(is_valid_room_name("\x80"));
}

TEST(RoomName, AcceptsExactlyOneHundredCodePoints) {
    EXPECT_TRUE(is_valid_room_name(std::string(100, 'a')));
    EXPECT_TRUE(is_valid_room_name(repeat("\xEB\xA1\x9C", 100)));      // 100 x 로, 300 bytes
    EXPECT_TRUE(is_valid_room_name(repeat("\xF0\xA0\x80\x80", 100)));  // 100 x U+20000, 400 bytes
}

TEST(RoomName, RejectsOneHundredAndOneCodePoints) {
    EXPECT_FALSE(is_valid_room_name(std::string(101, 'a')));
    EXPECT_FALSE(is_valid_room_name(repeat("\xEB\xA1\x9C", 101)));
    EXPECT_FALSE(is_valid_room_name(repeat("\xF0\xA0\x80\x80", 101)));
}

// ---------------------------------------------------------------- is_valid_group_name

TEST(GroupName, AcceptsChannelsRedisCharacters) {
    EXPECT_TRUE(is_valid_group_name("chat_lobby"));
    EXPECT_TRUE(is_valid_group_name("chat_.90e5f5b199911b06347a368e877775bd"));
    EXPECT_TRUE(is_valid_group_name("-_."));
    EXPECT_TRUE(is_valid_group_name("ABCxyz019"));
}

TEST(GroupName, AcceptsNinetyNineCharactersAndRejectsOneHundred) {
    EXPECT_TRUE(is_valid_group_name(std::string(99, 'a')));
    EXPECT_FALSE(is_valid_group_name(std::string(100, 'a')));
}

TEST(GroupName, RejectsEmptyAndForeignCharacters) {
    EXPECT_FALSE(is_valid_group_name(""));
    EXPECT_FALSE(is_valid_group_name("chat lobby"));
    EXPECT_FALSE(is_valid_group_name("chat/x"));
    EXPECT_FALSE(is_valid_group_name("specific.abc!def"));
    EXPECT_FALSE(is_valid_group_name("chat_\xEB\xA1\x9C\xEB\xB9\x84"));
    EXPECT_FALSE(is_valid_group_name("chat_lobby\n"));
}

// ---------------------------------------------------------------- is_valid_channel_name

TEST(ChannelName, AcceptsPlainAndSpecificChannelNames) {
    EXPECT_TRUE(is_valid_channel_name("chat_lobby"));
    EXPECT_TRUE(is_valid_channel_name("specific.abc!def"));
    EXPECT_TRUE(is_valid_channel_name("specific.gw.0123456789abcdef!42"));
    EXPECT_TRUE(is_valid_channel_name("specific.abc!"));
    EXPECT_TRUE(is_valid_channel_name("a!b-c_d.e"));
}

TEST(ChannelName, AcceptsNinetyNineCharactersAndRejectsOneHundred) {
    EXPECT_TRUE(is_valid_channel_name(std::string(99, 'a')));
    EXPECT_FALSE(is_valid_channel_name(std::string(100, 'a')));
    EXPECT_TRUE(is_valid_channel_name(std::string(97, 'a') + "!x"));
    EXPECT_FALSE(is_valid_channel_name(std::string(98, 'a') + "!x"));
}

TEST(ChannelName, RejectsTwoBangs) {
    EXPECT_FALSE(is_valid_channel_name("specific.abc!def!ghi"));
    EXPECT_FALSE(is_valid_channel_name("a!!"));
}

TEST(ChannelName, RejectsEmptyHeadAndForeignCharacters) {
    EXPECT_FALSE(is_valid_channel_name(""));
    EXPECT_FALSE(is_valid_channel_name("!abc"));
    EXPECT_FALSE(is_valid_channel_name("a!b c"));
    EXPECT_FALSE(is_valid_channel_name("a b!c"));
    EXPECT_FALSE(is_valid_channel_name("specific.abc!\xEB\xA1\x9C"));
}

// ---------------------------------------------------------------- group_for
// Expected hashes: /usr/bin/python3 -c "import hashlib; print('chat_.' + hashlib.sha1(ROOM.encode()).hexdigest()[:32])"

TEST(GroupFor, UsesThePlainNameForShortAsciiRooms) {
    EXPECT_EQ(group_for("chat", "lobby"), "chat_lobby");
    EXPECT_EQ(group_for("chat", "room_1"), "chat_room_1");
}

TEST(GroupFor, HashesKoreanLobby) {
    EXPECT_EQ(group_for("chat", "\xEB\xA1\x9C\xEB\xB9\x84"), "chat_.90e5f5b199911b06347a368e877775bd");
}

TEST(GroupFor, HashesOtherNonAsciiRooms) {
    EXPECT_EQ(group_for("chat", "\xC3\xA9"), "chat_.bf15be717ac1b080b4f1c45669282589");   // é
    EXPECT_EQ(group_for("chat", "\xD9\xA3"), "chat_.ef67cd3541e9fcd06f8e439741e0589d");   // ٣
}

TEST(GroupFor, KeepsAsciiNameOfNinetyNineCharacters) {
    const std::string room(94, 'a');  // "chat_" + 94 = 99 characters
    EXPECT_EQ(group_for("chat", room), "chat_" + room);
}

TEST(GroupFor, HashesAsciiNameOfOneHundredCharacters) {
    EXPECT_EQ(group_for("chat", std::string(95, 'a')), "chat_.8090cbba60f76408b23adc3c2a9889ab");
}

TEST(GroupFor, HashesLongAsciiRoom) {
    EXPECT_EQ(group_for("chat", std::string(96, 'a')), "chat_.01cd6c098788bf78c0d55b318fbebf5f");
    EXPECT_EQ(group_for("chat", std::string(100, 'a')), "chat_.7f9000257a4918d7072655ea468540cd");
}

TEST(GroupFor, AlwaysYieldsAValidGroupName) {
    EXPECT_TRUE(is_valid_group_name(group_for("chat", "lobby")));
    EXPECT_TRUE(is_valid_group_name(group_for("chat", "\xEB\xA1\x9C\xEB\xB9\x84")));
    EXPECT_TRUE(is_valid_group_name(group_for("chat", std::string(100, 'a'))));
    EXPECT_TRUE(is_valid_group_name(group_for("chat", repeat("\xF0\xA0\x80\x80", 100))));
}

}  // namespace
