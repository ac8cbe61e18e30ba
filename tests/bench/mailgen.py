#!/usr/bin/env python3
"""
mailgen.py - a deterministic corpus of registration mails for the benchmarks.

    python3 tests/bench/mailgen.py [--count N] [--seed S] DIR

writes DIR/00000.eml ... as an MTA would hand them to an MDA: Return-Path,
Delivered-To, Received, then the sender's headers.  Every mail is 3-6 KiB
(3072..6144 bytes on disk), English, Arabic or (a few) Kurdish Sorani, some
base64 or quoted-printable, some multipart/alternative (plain + html), a
few Arabic ones in windows-1256.  Non-ASCII headers are RFC 2047 encoded by
the email package.  Message-IDs are unique per mail.

Used by tests/bench/intake; standard library only.
"""
import argparse
import datetime as dt
import email.policy
import email.utils
import html
import os
import random
import sys
import textwrap
from email.headerregistry import Address
from email.message import EmailMessage

MIN_SIZE = 3 * 1024
MAX_SIZE = 6 * 1024
POLICY = email.policy.default          # "\n" line ends, as an MDA sees them
REGISTER = "register@icssi.example"

# --------------------------------------------------------------------------
# People, places, words.

EN_PEOPLE = [
    ("Sarah", "Mitchell"), ("James", "O'Connor"), ("Maria", "Rossi"),
    ("Lars", "Eriksson"), ("Emma", "Dupont"), ("Kenji", "Watanabe"),
    ("Ana", "Souza"), ("Giulia", "Bianchi"), ("Thomas", "Becker"),
    ("Ingrid", "Halvorsen"), ("Pablo", "Martinez"), ("Claire", "Moreau"),
    ("David", "Goldberg"), ("Nadia", "Benali"), ("Omar", "Haddad"),
    ("Rachel", "Green"), ("Martin", "Lindqvist"), ("Sofia", "Papadopoulou"),
    ("Amal", "Rashid"), ("Yusuf", "Kaya"), ("Hannah", "Schmidt"),
    ("Marco", "Ferri"), ("Leila", "Mansour"), ("Peter", "Novak"),
]
AR_PEOPLE = [
    ("أحمد حسن", "ahmed.hassan"), ("زينب علي", "zainab.ali"),
    ("مصطفى كريم", "mustafa.kareem"), ("نور الهدى جاسم", "noor.jasim"),
    ("حيدر عباس", "haider.abbas"), ("فاطمة سلمان", "fatima.salman"),
    ("علي الموسوي", "ali.almusawi"), ("سارة عبد الله", "sara.abdullah"),
    ("محمد الربيعي", "m.alrubaie"), ("هبة الخفاجي", "hiba.khafaji"),
    ("عمر الجبوري", "omar.jubouri"), ("رنا الساعدي", "rana.saadi"),
    ("يوسف البصري", "yousif.basri"), ("مريم الكعبي", "maryam.kaabi"),
    ("كرار ناصر", "karrar.nasser"), ("دعاء العبيدي", "duaa.obaidi"),
]
CKB_PEOPLE = [
    ("ئاراس محەمەد", "aras.mohammed"), ("شیلان عومەر", "shilan.omer"),
    ("هێمن ئەحمەد", "hemin.ahmed"), ("ڕێژنە کەریم", "rezhna.karim"),
    ("کاروان عەلی", "karwan.ali"), ("ژیلا حەسەن", "zhila.hasan"),
    ("دیلان عوسمان", "dilan.osman"), ("سۆران مەحمود", "soran.mahmood"),
]
EN_ORGS = [
    "Iraqi Al-Amal Association", "Un Ponte Per", "Transnational Institute",
    "Women's Empowerment Organization", "Norwegian People's Aid",
    "Sulaimani Polytechnic University", "Tigris Voices for Environmental Justice",
    "Save the Tigris Campaign", "Iraqi Social Forum", "Basra Oil Workers Union",
    "Jesuit Refugee Service", "Minority Rights Group", "Peace Brigades",
    "Mesopotamia Heritage Network", "Youth Bridges Iraq",
]
AR_ORGS = [
    "جمعية الأمل العراقية", "منظمة تموز للتنمية الاجتماعية",
    "شبكة النساء العراقيات", "اتحاد الطلبة العام في جمهورية العراق",
    "مرصد الحريات الصحفية", "منتدى الشباب في البصرة",
    "جمعية حماية البيئة في ذي قار", "نقابة المعلمين في النجف",
    "مؤسسة المدى للثقافة والإعلام", "منظمة حمورابي لحقوق الإنسان",
]
CKB_ORGS = [
    "ڕێکخراوی ئاسۆ", "زانکۆی سلێمانی", "تۆڕی ژنانی کوردستان",
    "ڕێکخراوی گەنجانی هەڵەبجە", "سەنتەری مافەکانی مرۆڤ لە دهۆک",
]
EN_COUNTRIES = [
    ("Iraq", "+964 770"), ("Italy", "+39 347"), ("Norway", "+47 412"),
    ("France", "+33 6 12"), ("United Kingdom", "+44 7700"), ("Germany", "+49 151"),
    ("Lebanon", "+961 3"), ("Tunisia", "+216 98"), ("Spain", "+34 612"),
    ("United States", "+1 202"), ("Japan", "+81 90"), ("Sweden", "+46 70"),
]
EN_CITIES = ["Baghdad", "Basra", "Erbil", "Mosul", "Najaf", "Rome", "Oslo",
             "Paris", "London", "Berlin", "Beirut", "Tunis", "Madrid",
             "Washington", "Tokyo", "Stockholm", "Sulaymaniyah", "Kirkuk"]
AR_COUNTRIES = ["العراق", "لبنان", "الأردن", "تونس", "مصر", "سوريا", "المغرب", "فلسطين"]
AR_CITIES = ["بغداد", "البصرة", "الموصل", "النجف", "كربلاء", "الناصرية",
             "الحلة", "الديوانية", "الكوت", "بيروت", "عمّان", "تونس"]
CKB_CITIES = ["سلێمانی", "هەولێر", "دهۆک", "هەڵەبجە", "کەرکووک", "ڕانیە"]
EN_ROLES = ["participant", "speaker", "workshop facilitator", "observer",
            "volunteer", "journalist"]
AR_ROLES = ["مشارك", "متحدث", "ميسّر ورشة عمل", "مراقب", "متطوع", "صحفي"]
CKB_ROLES = ["بەشداربوو", "قسەکەر", "ڕێکخەری وۆرکشۆپ", "چاودێر", "خۆبەخش"]
EN_WORKSHOPS = ["Water and environment", "Labour rights", "Women and peace",
                "Freedom of expression", "Youth and education",
                "Minorities and coexistence", "Cultural heritage"]
AR_WORKSHOPS = ["المياه والبيئة", "حقوق العمال", "المرأة والسلام",
                "حرية التعبير", "الشباب والتعليم", "الأقليات والتعايش"]
CKB_WORKSHOPS = ["ئاو و ژینگە", "مافی کرێکاران", "ئافرەتان و ئاشتی",
                 "ئازادیی ڕادەربڕین", "گەنجان و پەروەردە"]
EN_DIET = ["none", "vegetarian", "vegan", "halal", "gluten free", "no nuts"]
AR_DIET = ["لا يوجد", "نباتي", "حلال", "بدون غلوتين"]

EN_SUBJECTS = [
    "Registration - ICSSI 11th International Conference",
    "Registration for the Sulaymaniyah conference",
    "Re: Registration form", "registration", "Conference registration: {name}",
    "Registration form ICSSI 2022 ({country})",
    "Fwd: ICSSI conference - registration of {name}",
]
AR_SUBJECTS = [
    "تسجيل - المؤتمر الدولي الحادي عشر للمبادرة",
    "استمارة التسجيل", "طلب تسجيل في مؤتمر السليمانية",
    "تسجيل {name} في المؤتمر", "رد: استمارة التسجيل في المؤتمر",
    "Registration - تسجيل في المؤتمر",
]
CKB_SUBJECTS = [
    "تۆمارکردن بۆ کۆنفرانسی سلێمانی", "فۆڕمی تۆمارکردن",
    "تۆمارکردنی {name}", "Registration - تۆمارکردن",
]

EN_PROSE = [
    "I am very glad to register for the 11th International Conference of the Iraqi Civil Society Solidarity Initiative.",
    "Our organisation has been working with communities along the Tigris for several years on water and environmental justice.",
    "We would like to take part in the workshop on labour rights and, if there is room, in the one on freedom of expression.",
    "I will travel from Erbil by road together with two colleagues, who will send their own forms separately.",
    "Could you please let me know whether the organisers can help with hotel bookings near the venue?",
    "I will need an official invitation letter for my visa application at the Iraqi embassy.",
    "I attended the previous conference in Basra and it was a very useful experience for our network.",
    "We hope the conference will help build new links of solidarity between Iraqi and international organisations.",
    "I can contribute a short presentation on our experience supporting women survivors of violence in Nineveh.",
    "Please confirm that you have received this message, and thank you for all your work organising the conference.",
    "If simultaneous interpretation between Arabic, Kurdish and English is available, I would be grateful to use it.",
    "I will leave on 16 March after the closing plenary, unless the programme changes.",
    "Our group works with young people in poor neighbourhoods on education and vocational training.",
    "I attach nothing to this message; my passport copy will follow in a separate mail as you asked.",
    "Please tell me if any other documents are needed to complete the registration.",
    "The trade union I represent would also like to display some publications during the conference, if possible.",
    "I have a mild food allergy, so a note to the catering team would be appreciated.",
    "Several of our members are students and would be interested in the youth sessions on the first day.",
    "We are preparing a short documentary about the marshes and could show it in the evening programme.",
    "Thank you again for keeping the spirit of solidarity alive after such difficult years.",
    "I understand that registration by email closes on 15 February and that places are limited.",
    "My flight arrives in Sulaymaniyah in the late afternoon, so I might miss the welcome dinner.",
]
AR_PROSE = [
    "يسعدني أن أسجل للمشاركة في المؤتمر الدولي الحادي عشر لمبادرة التضامن مع المجتمع المدني العراقي.",
    "أعمل منذ عدة سنوات في مجال حقوق الإنسان والدفاع عن حرية التعبير في العراق.",
    "نرغب في المشاركة في ورشة العمل الخاصة بالمياه والبيئة وفي ورشة حقوق العمال.",
    "سأصل إلى السليمانية عن طريق البر من بغداد، وأرجو إعلامي بمكان الإقامة المقترح.",
    "أحتاج إلى رسالة دعوة رسمية لتقديمها إلى جهة العمل.",
    "نحن مجموعة من ثلاثة أشخاص من نفس المنظمة، وسيرسل كل منا استمارته بشكل منفصل.",
    "أرجو تأكيد استلام هذه الرسالة، مع جزيل الشكر لجهودكم في تنظيم المؤتمر.",
    "لدي حساسية من بعض الأطعمة، وأفضل الوجبات النباتية إن أمكن.",
    "شاركت في المؤتمر السابق في البصرة وكانت تجربة مفيدة جداً لمنظمتنا.",
    "نود أن نعرض تجربتنا في دعم النساء الناجيات من العنف في محافظة نينوى.",
    "هل يمكن توفير ترجمة فورية بين العربية والكردية والإنجليزية خلال الجلسات العامة؟",
    "سأغادر يوم السادس عشر من آذار بعد انتهاء الجلسة الختامية.",
    "تعمل منظمتنا مع الشباب في الأحياء الفقيرة على برامج التعليم والتدريب المهني.",
    "نأمل أن يكون المؤتمر فرصة لبناء شبكات تضامن جديدة بين المنظمات العراقية والدولية.",
    "أرفقت نسخة من جواز السفر في رسالة منفصلة كما طلبتم.",
    "يرجى إبلاغي إذا كانت هناك أي وثائق أخرى مطلوبة للتسجيل.",
    "نحضّر فيلماً قصيراً عن الأهوار ونرغب في عرضه ضمن البرنامج المسائي.",
    "شكراً لكم على الحفاظ على روح التضامن بعد كل هذه السنوات الصعبة.",
]
CKB_PROSE = [
    "خۆشحاڵم کە بەشداری لە کۆنفرانسی نێودەوڵەتیی یازدەهەمی دەستپێشخەری هاوپشتی لەگەڵ کۆمەڵگەی مەدەنیی عێراق بکەم.",
    "من لە ڕێکخراوێکی ناحکومی لە سلێمانی کار دەکەم لە بواری مافی ئافرەتان.",
    "تکایە ئاگادارم بکەنەوە ئەگەر پێویستە بەڵگەنامەی تر بنێرم.",
    "دەمەوێت بەشداری لە وۆرکشۆپی ئاو و ژینگە بکەم.",
    "ڕۆژی دەی ئازار دەگەمە سلێمانی و ڕۆژی شازدە دەگەڕێمەوە.",
    "سوپاس بۆ هەوڵەکانتان لە ڕێکخستنی ئەم کۆنفرانسە.",
    "ئێمە گروپێکی گەنجین کە لە بواری پەروەردە و ڕۆشنبیری کار دەکەین.",
    "هیوادارم کۆنفرانسەکە دەرفەتێک بێت بۆ بەهێزکردنی هاوپشتی نێوان ڕێکخراوەکان.",
    "پێویستم بە وەرگێڕان هەیە لە نێوان کوردی و ئینگلیزی.",
    "تکایە وەرگرتنی ئەم نامەیە پشتڕاست بکەنەوە.",
]

AR_MONTH = "آذار"
CKB_MONTH = "ئازار"
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

SENDER_DOMAINS = ["gmail.example", "yahoo.example", "outlook.example",
                  "uruklink.example", "earthlink.example.iq", "alamal.example.org",
                  "upp.example.it", "tni.example.org", "npaid.example.no",
                  "kurdistan-ngo.example.net", "uni-sulaimani.example.edu"]
USER_AGENTS = [
    ("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:91.0) Gecko/20100101 Thunderbird/91.5.1"),
    ("X-Mailer", "Microsoft Outlook 16.0"),
    ("User-Agent", "Roundcube Webmail/1.4.13"),
    ("X-Mailer", "iPhone Mail (19D52)"),
    ("User-Agent", "K-9 Mail for Android"),
    (None, None),
]
BASE_DATE = dt.datetime(2022, 1, 5, 8, 0, 0)
TZ = {"iq": dt.timezone(dt.timedelta(hours=3)),
      "eu": dt.timezone(dt.timedelta(hours=1)),
      "us": dt.timezone(dt.timedelta(hours=-5))}


def _ip(rng):
    net = rng.choice(["192.0.2", "198.51.100", "203.0.113"])
    return f"{net}.{rng.randint(1, 254)}"


def _qid(rng, n=12):
    return "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRSTVWXYZ") for _ in range(n))


def _b64junk(rng, n):
    al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return "".join(rng.choice(al) for _ in range(n))


class Person:
    pass


def _person(rng, lang):
    p = Person()
    p.domain = rng.choice(SENDER_DOMAINS)
    if lang == "en":
        first, last = rng.choice(EN_PEOPLE)
        p.name = f"{first} {last}"
        p.local = f"{first}.{last}".lower().replace("'", "")
        p.country, p.prefix = rng.choice(EN_COUNTRIES)
        p.city = rng.choice(EN_CITIES)
        p.org = rng.choice(EN_ORGS)
        p.tz = TZ["iq"] if p.country == "Iraq" else (
            TZ["us"] if p.country == "United States" else TZ["eu"])
    else:
        people = AR_PEOPLE if lang == "ar" else CKB_PEOPLE
        p.name, p.local = rng.choice(people)
        p.country = rng.choice(AR_COUNTRIES) if lang == "ar" else "عێراق"
        p.prefix = "+964 7" + str(rng.choice([50, 70, 80, 90, 71]))
        p.city = rng.choice(AR_CITIES if lang == "ar" else CKB_CITIES)
        p.org = rng.choice(AR_ORGS if lang == "ar" else CKB_ORGS)
        p.tz = TZ["iq"]
    p.addr = f"{p.local}{rng.choice(['', '', str(rng.randint(1, 99))])}@{p.domain}"
    p.phone = f"{p.prefix} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    return p


def _form(rng, lang, p, labels):
    arr = rng.choice([8, 9, 10, 10, 10, 11])
    dep = rng.choice([15, 16, 16, 17])
    if labels == "en":
        role = rng.choice(EN_ROLES) if lang == "en" else rng.choice(AR_ROLES if lang == "ar" else CKB_ROLES)
        rows = [("Full name", p.name), ("Organisation", p.org), ("Country", p.country),
                ("City", p.city), ("Email", p.addr), ("Phone", p.phone),
                ("Arrival", f"{arr} March 2022"), ("Departure", f"{dep} March 2022"),
                ("Participation", role),
                ("Workshop", rng.choice(EN_WORKSHOPS)),
                ("Dietary needs", rng.choice(EN_DIET)),
                ("Visa invitation letter", rng.choice(["yes", "no", "no"]))]
    elif labels == "ar":
        phone = p.phone.translate(ARABIC_INDIC) if rng.random() < 0.4 else p.phone
        darr = str(arr).translate(ARABIC_INDIC) if rng.random() < 0.4 else str(arr)
        rows = [("الاسم الكامل", p.name), ("المنظمة", p.org), ("البلد", p.country),
                ("المدينة", p.city), ("البريد الإلكتروني", p.addr), ("الهاتف", phone),
                ("تاريخ الوصول", f"{darr} {AR_MONTH} 2022"),
                ("تاريخ المغادرة", f"{dep} {AR_MONTH} 2022"),
                ("نوع المشاركة", rng.choice(AR_ROLES)),
                ("ورشة العمل", rng.choice(AR_WORKSHOPS)),
                ("ملاحظات غذائية", rng.choice(AR_DIET)),
                ("رسالة دعوة للتأشيرة", rng.choice(["نعم", "لا", "لا"]))]
    else:  # ckb
        rows = [("ناوی تەواو", p.name), ("ڕێکخراو", p.org), ("وڵات", p.country),
                ("شار", p.city), ("ئیمەیڵ", p.addr), ("تەلەفۆن", p.phone),
                ("گەیشتن", f"{arr}ی {CKB_MONTH}"), ("ڕۆیشتن", f"{dep}ی {CKB_MONTH}"),
                ("ڕۆڵ", rng.choice(CKB_ROLES)), ("وۆرکشۆپ", rng.choice(CKB_WORKSHOPS))]
    keep = len(rows) - rng.randint(0, 3)          # people skip a field or three
    return rows[:max(keep, 7)]


def _greeting(lang, rng):
    if lang == "en":
        return rng.choice(["Dear organisers,", "Hello,", "Dear ICSSI team,", "Hi,"])
    if lang == "ar":
        return rng.choice(["السلام عليكم،", "الأخوة في اللجنة المنظمة المحترمون،", "تحية طيبة،"])
    return rng.choice(["سڵاو،", "بەڕێزان،"])


def _closing(lang, p):
    if lang == "en":
        return f"Best regards,\n{p.name}"
    if lang == "ar":
        return f"مع التحية،\n{p.name}"
    return f"لەگەڵ ڕێزدا،\n{p.name}"


class Draft:
    """Everything about one mail except how much prose it carries."""

    def __init__(self, i, rng):
        self.i = i
        r = rng.random()
        self.lang = "en" if r < 0.58 else ("ar" if r < 0.92 else "ckb")
        self.labels = self.lang
        if self.lang != "en" and rng.random() < 0.25:
            self.labels = "en"                    # bilingual form template
        self.p = _person(rng, self.lang)
        self.charset = "utf-8"
        if self.lang == "ar" and self.labels != "en" and rng.random() < 0.12:
            self.charset = "windows-1256"          # Outlook on an Arabic Windows
        r = rng.random()
        self.cte = "plain" if r < 0.42 else ("quoted-printable" if r < 0.70 else "base64")
        self.alternative = rng.random() < 0.30
        self.dkim = rng.random() < 0.45
        self.ua = rng.choice(USER_AGENTS)
        self.hops = rng.choice([1, 2, 2, 3])
        when = BASE_DATE + dt.timedelta(seconds=rng.randint(0, 40 * 86400))
        self.date = when.replace(tzinfo=dt.timezone.utc).astimezone(self.p.tz)
        self.msgid = (f"<{self.date:%Y%m%d%H%M%S}.{i:05d}."
                      f"{rng.getrandbits(40):010x}@{self.p.domain}>")
        subj = {"en": EN_SUBJECTS, "ar": AR_SUBJECTS, "ckb": CKB_SUBJECTS}[self.lang]
        self.subject = rng.choice(subj).format(name=self.p.name, country=self.p.country)
        self.ips = [_ip(rng) for _ in range(3)]
        self.boundary = f"----=_Part_{i}_{rng.getrandbits(32)}.{rng.getrandbits(40)}"
        self.qids = [_qid(rng) for _ in range(3)]
        self.dkim_b = _b64junk(rng, 344)
        self.dkim_bh = _b64junk(rng, 43) + "="
        self.form = _form(rng, self.lang, self.p, self.labels)
        self.greeting = _greeting(self.lang, rng)
        pool = {"en": EN_PROSE, "ar": AR_PROSE, "ckb": CKB_PROSE}[self.lang]
        self.prose = [rng.choice(pool) for _ in range(90)]
        self.para_breaks = {k for k in range(90) if rng.random() < 0.3}
        self.target = rng.randint(MIN_SIZE + 128, MAX_SIZE - 128)
        if self.charset != "utf-8":
            try:                                   # e.g. Arabic-Indic digits
                self._text(len(self.prose)).encode(self.charset)
            except UnicodeEncodeError:
                self.charset = "utf-8"

    def _text(self, k):
        lines = [self.greeting, ""]
        paras, cur = [], []
        for j, s in enumerate(self.prose[:k]):
            cur.append(s)
            if j in self.para_breaks:
                paras.append(" ".join(cur))
                cur = []
        if cur:
            paras.append(" ".join(cur))
        intro, rest = paras[:1], paras[1:]
        for para in intro:
            lines += textwrap.wrap(para, 72) + [""]
        lines += [f"{k_}: {v}" for k_, v in self.form] + [""]
        for para in rest:
            lines += textwrap.wrap(para, 72) + [""]
        lines += _closing(self.lang, self.p).split("\n")
        return "\n".join(lines) + "\n"

    def _html(self, text):
        rtl = ' dir="rtl"' if self.lang != "en" else ""
        body = "".join(
            "<p>" + "<br>\n".join(html.escape(line) for line in block.split("\n")) + "</p>\n"
            for block in text.strip().split("\n\n"))
        return (f'<html><head><meta http-equiv="Content-Type" content="text/html; '
                f'charset={self.charset}"></head>\n<body{rtl}>\n<div style="font-family:'
                f'Tahoma,Arial,sans-serif;font-size:12pt">\n{body}</div>\n</body></html>\n')

    def _cte(self, text):
        if self.cte != "plain":
            return self.cte
        try:
            text.encode("ascii")
            return "7bit"
        except UnicodeEncodeError:
            return "8bit"

    def build(self, k):
        p, d = self.p, self.date
        m = EmailMessage(policy=POLICY)
        m["Return-Path"] = f"<{p.addr}>"
        m["Delivered-To"] = REGISTER
        hop_time = d
        hosts = [f"mail-{self.qids[0][:2].lower()}.{p.domain}", "mx1.icssi.example",
                 "filter.icssi.example", "mail.icssi.example"]
        hosts = hosts[:self.hops] + hosts[-1:] if self.hops > 1 else hosts[:2]
        received = []
        for h in range(self.hops):
            hop_time = hop_time + dt.timedelta(seconds=1 + h)
            frm = hosts[h]
            by = hosts[h + 1]
            ip = self.ips[h] if h == 0 else f"10.20.0.{h + 1}"
            proto = "ESMTPS" if h == 0 else "ESMTP"
            stamp = email.utils.format_datetime(hop_time.astimezone(TZ["iq"]))
            received.append(f"from {frm} ({frm} [{ip}]) by {by} (Postfix) with {proto} "
                             f"id {self.qids[h]} for <{REGISTER}>; {stamp}")
        for line in reversed(received):             # newest on top
            m["Received"] = line
        if self.dkim:
            m["DKIM-Signature"] = (f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={p.domain}; "
                                   f"s=s2022; t={int(d.timestamp())}; h=from:to:subject:"
                                   f"date:message-id:mime-version; bh={self.dkim_bh}; "
                                   # folding white space, as signers write it
                                   "b=" + " ".join(self.dkim_b[j:j + 64] for j in
                                                   range(0, len(self.dkim_b), 64)))
        m["Message-ID"] = self.msgid
        m["Date"] = email.utils.format_datetime(d)
        m["From"] = Address(display_name=p.name, addr_spec=p.addr)
        m["To"] = Address(display_name="ICSSI registration" if self.lang == "en"
                          else "", addr_spec=REGISTER)
        m["Subject"] = self.subject
        if self.ua[0]:
            m[self.ua[0]] = self.ua[1]
        text = self._text(k)
        m.set_content(text, subtype="plain", charset=self.charset, cte=self._cte(text))
        if self.alternative:
            page = self._html(text)
            m.add_alternative(page, subtype="html", charset=self.charset, cte=self._cte(page))
            m.set_boundary(self.boundary)          # not the email package's random one
        # after set_content, which drops every Content-* header it finds
        m["Content-Language"] = {"en": "en-GB", "ar": "ar-IQ", "ckb": "ckb-IQ"}[self.lang]
        return m.as_bytes()

    def fit(self):
        """The raw mail with as much prose as keeps it near self.target:
        the largest number of sentences k with size(k) <= target, found
        from a straight-line estimate and then stepped to exactly."""
        n = len(self.prose)
        raw0 = self.build(0)
        if len(raw0) > self.target:
            return raw0
        rawn = self.build(n)
        per = max(1.0, (len(rawn) - len(raw0)) / n)
        k = min(n, int((self.target - len(raw0)) / per))
        raw = self.build(k) if 0 < k < n else (raw0 if k == 0 else rawn)
        while k > 0 and len(raw) > self.target:
            k -= 1
            raw = self.build(k)
        while k < n:
            nxt = self.build(k + 1)
            if len(nxt) > self.target:
                break
            k, raw = k + 1, nxt
        if len(raw) < MIN_SIZE and k < n:          # one more sentence, if it fits
            nxt = self.build(k + 1)
            if len(nxt) <= MAX_SIZE:
                raw = nxt
        return raw


def make_mail(i, rng):
    """(raw bytes, description) for mail number i."""
    d = Draft(i, rng)
    raw = d.fit()
    # The heaviest shapes (Arabic quoted-printable, plain + html, DKIM) can
    # overshoot 6 KiB with no prose at all: lighten until it fits.
    for lighten in ("dkim", "ua", "alternative", "cte"):
        if len(raw) <= MAX_SIZE:
            break
        if lighten == "dkim":
            d.dkim = False
        elif lighten == "ua":
            d.ua = (None, None)
        elif lighten == "alternative":
            d.alternative = False
        else:
            d.cte = "base64"
        raw = d.fit()
    kind = "%s/%s/%s%s" % (d.lang, d.charset, d._cte(d._text(0)),
                           "/alternative" if d.alternative else "")
    return raw, kind


def generate(outdir, count, seed=2022):
    """Write count mails into outdir; return [(path, size, kind)]."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        raw, kind = make_mail(i, rng)
        if not MIN_SIZE <= len(raw) <= MAX_SIZE:
            raise RuntimeError(f"mail {i} ({kind}) is {len(raw)} bytes")
        path = os.path.join(outdir, f"{i:05d}.eml")
        with open(path, "wb") as f:
            f.write(raw)
        out.append((path, len(raw), kind))
    return out


def generate_big(path, size, seed=2022):
    """One registration mail with a base64 attachment, about size bytes in all."""
    rng = random.Random(seed ^ 0x5EED)
    d = Draft(99999, rng)
    d.alternative, d.cte = False, "plain"
    m = EmailMessage(policy=POLICY)
    from email import message_from_bytes
    head = message_from_bytes(d.build(6), policy=POLICY)
    for k_, v in head.items():
        if not k_.lower().startswith(("content-", "mime-", "subject")):
            m[k_] = v
    m["Subject"] = "Registration with the scanned documents"
    m.set_content(d._text(6), charset="utf-8", cte=d._cte(d._text(6)))
    # base64 is 77 bytes on disk (76 + "\n") for every 57 of payload
    overhead = len(m.as_bytes()) + 600
    n = max(0, int((size - overhead) * 57 / 77))
    m.add_attachment(rng.randbytes(n), maintype="application", subtype="zip",
                     filename="registration-documents.zip")
    m.set_boundary(d.boundary)
    raw = m.as_bytes()
    with open(path, "wb") as f:
        f.write(raw)
    return len(raw)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("dir")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    mails = generate(a.dir, a.count, a.seed)
    kinds = {}
    for _, _, k in mails:
        kinds[k] = kinds.get(k, 0) + 1
    for k in sorted(kinds):
        print(f"{kinds[k]:6d}  {k}")
    sizes = sorted(s for _, s, _ in mails)
    print(f"{len(mails)} mails, {sizes[0]}..{sizes[-1]} bytes, "
          f"median {sizes[len(sizes) // 2]}")


if __name__ == "__main__":
    sys.exit(main())
