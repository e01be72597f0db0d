"""Why a national ID the asker gave was not compared, in both languages: for JSON, CSV and spreadsheets alike.

The box withholds the comparison when the asker may not have one (an anonymous API
call, a key without the right) or when the code's comparisons are used up for now
(the per-code limit that keeps the verdict from being a national-ID oracle). The
verdict still answers; it says plainly that the ID was not compared, and why.
"""

from __future__ import annotations

NATIONAL_ID_NOTES = {
    "not_permitted": {
        "en": "The national ID given was not compared: this client may not ask for national-ID comparisons.",
        "fa": "کد ملی واردشده مقایسه نشد: این درخواست‌کننده اجازهٔ مقایسهٔ کد ملی را ندارد.",
    },
    "limited": {
        "en": "The national ID given was not compared: national IDs have been checked against this code too "
        "often recently (the comparison is limited per code). Compare the ID with the document, or try again later.",
        "fa": "کد ملی واردشده مقایسه نشد: به‌تازگی کد ملی بیش از حد مجاز با این کد مقایسه شده است "
        "(شمار مقایسه‌ها برای هر کد محدود است). کد ملی را با خود سند مقایسه کنید یا بعداً دوباره تلاش کنید.",
    },
}
