#include "moderation/names.h"

#include <catch2/catch.hpp>

#include <string>

#include "moderation/text.h"

using namespace sabla::moderation;

namespace {

// Encoded by hand so the test does not lean on the code under test.
std::string cp(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

// What the Room does with a name before the check.
std::string imitated(const NameGuard& g, const std::string& raw, const std::vector<std::string>& more = {}) {
  return g.imitated(sanitize_name(raw), more);
}

}  // namespace

SCENARIO("display names that imitate a studio user are recognised by their confusable skeleton", "[moderation][names]") {
  NameGuard g;
  g.set_protected_names({"amal", "producer", "سعيد البوسعيدي"});

  GIVEN("the exact name, other case and punctuation") {
    CHECK(imitated(g, "amal") == "amal");
    CHECK(imitated(g, "AMAL") == "amal");
    CHECK(imitated(g, "Amal.") == "amal");
    CHECK(imitated(g, "a m a l") == "amal");
    CHECK(imitated(g, "Producer") == "producer");
  }
  GIVEN("homoglyphs from other scripts and look-alike letters") {
    // Cyrillic а (U+0430) twice.
    CHECK(imitated(g, cp(0x0430) + "m" + cp(0x0430) + "l") == "amal");
    // Capital I for l, digit 1 for l.
    CHECK(imitated(g, "AmaI") == "amal");
    CHECK(imitated(g, "ama1") == "amal");
    // Full-width Latin.
    CHECK(imitated(g, cp(0xFF41) + cp(0xFF4D) + cp(0xFF41) + cp(0xFF4C)) == "amal");
    // Greek omicron for o, "rn" for m.
    CHECK(imitated(g, "pr" + cp(0x03BF) + "ducer") == "producer");
    CHECK(imitated(g, "arnal") == "amal");
  }
  GIVEN("invisible characters, accents and Zalgo marks") {
    CHECK(imitated(g, "a" + cp(0x200B) + "mal") == "amal");
    CHECK(imitated(g, "am" + cp(0x00E1) + "l") == "amal");  // á
    std::string zalgo;
    for (char c : std::string("amal")) {
      zalgo += c;
      for (int i = 0; i < 50; ++i) zalgo += cp(0x0300 + (i % 0x30));
    }
    CHECK(imitated(g, zalgo) == "amal");
    CHECK(imitated(g, cp(0x202E) + "amal" + cp(0x202C)) == "amal");
  }
  GIVEN("an Arabic name written with other letter forms, diacritics, tatweel and presentation forms") {
    const std::string expected = "سعيد البوسعيدي";
    CHECK(imitated(g, "سَعِيد البوسعيدى") == expected);       // fatha/kasra, alef maksura for yaa
    CHECK(imitated(g, "سعـــيد البوسعيدي") == expected);     // tatweel
    CHECK(imitated(g, "سعيد  البوسعيدي.") == expected);      // double space, full stop
    // Farsi yeh U+06CC for Arabic yeh.
    CHECK(imitated(g, "سع" + cp(0x06CC) + "د البوسع" + cp(0x06CC) + "دي") == expected);
  }
  GIVEN("ordinary names that only share a prefix or a word") {
    CHECK(imitated(g, "Amalia").empty());
    CHECK(imitated(g, "Amal Said").empty());
    CHECK(imitated(g, "amal2").empty());
    CHECK(imitated(g, "productions").empty());
    CHECK(imitated(g, "سعيد").empty());
    CHECK(imitated(g, "سعيد الحارثي").empty());
    CHECK(imitated(g, "مريم").empty());
    CHECK(imitated(g, "").empty());
    CHECK(imitated(g, "!!!").empty());
  }
}

SCENARIO("staff words are refused anywhere in a name, as whole words", "[moderation][names]") {
  NameGuard g;
  CHECK(imitated(g, "Sabla") == "Sabla");
  CHECK(imitated(g, "SABLA team") == "Sabla");
  CHECK(imitated(g, "S" + cp(0x0430) + "bla") == "Sabla");
  CHECK(imitated(g, "amal (moderator)") == "moderator");
  CHECK(imitated(g, "M0DERATOR") == "moderator");
  CHECK(imitated(g, "admin_1") == "admin");
  CHECK(imitated(g, "المشرف") == "المشرف");
  CHECK(imitated(g, "مُشرِف الجلسة") == "مشرف");
  CHECK(imitated(g, "فريق سبله") == "سبلة");  // taa marbuta written as haa
  CHECK(imitated(g, "الادارة") == "الإدارة");  // no hamza
  // Words that merely contain a staff word stay free.
  CHECK(imitated(g, "Sablawi").empty());
  CHECK(imitated(g, "moderators fan").empty());
  CHECK(imitated(g, "adminah").empty());
  CHECK(imitated(g, "مشرفة").empty());
}

SCENARIO("names that change at run time (the speaker) are checked the same way", "[moderation][names]") {
  NameGuard g;
  const std::vector<std::string> speaker = {"Badr Al Harthy", "بدر الحارثي"};
  CHECK(imitated(g, "badr al-harthy", speaker) == "Badr Al Harthy");
  CHECK(imitated(g, "بدر الحارثى", speaker) == "بدر الحارثي");
  CHECK(imitated(g, "Badr", speaker).empty());
  CHECK(imitated(g, "badr al-harthy").empty());  // not protected without the speaker
  WHEN("a name is added later (a studio user logs in)") {
    g.add_protected_name("Nura");
    THEN("it is protected from then on, and invalid or empty names are ignored") {
      CHECK(imitated(g, "NURA") == "Nura");
      g.add_protected_name("");
      g.add_protected_name("\xff\xfe");
      g.add_protected_name(cp(0x200B));
      CHECK(imitated(g, "x").empty());
    }
  }
}
