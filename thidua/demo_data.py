"""The facts of the Vĩnh Yên 2022 demo: decisions, units, clusters, users and targets.

Data only (see DOMAIN.md); `thidua.demo` turns it into commands. The decisions, the units and
the two named leaders are those the local press reported; people are otherwise named by their
office (Chánh Văn phòng Thành ủy, Chủ tịch UBND phường ...), not by invented names. Target
titles are typical of such a drive's assignments, written for the demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from thidua.domain.values import Decision

# Two drives of the city. The 2022 drive lies on 2022's calendar (decisions in January and
# February, work through the year, closed at its end), brought in from its old records by the
# history import; the current drive runs live (timers, escalations, acceptance, commands).
CAMPAIGN_ID = "vinh-yen-hien-tai"
CAMPAIGN_NAME = "Đợt cao điểm thi đua hoàn thành chỉ tiêu, nhiệm vụ (đợt đang diễn ra) - Thành ủy Vĩnh Yên"
HISTORY_CAMPAIGN_ID = "vinh-yen-2022"
HISTORY_CAMPAIGN_NAME = "Đợt cao điểm thi đua hoàn thành chỉ tiêu, nhiệm vụ năm 2022 - Thành ủy Vĩnh Yên"
TIMEZONE = "Asia/Ho_Chi_Minh"


@dataclass(frozen=True)
class DecisionFact:
    number: str
    issued_on: date
    issuer: str
    title: str
    issuer_level: str = "city"  # thidua.domain.values.ISSUER_LEVELS
    parent_number: str | None = None  # the decision this one makes concrete (cụ thể hóa)


# 529 is the province's decision to the city; 934 and 937 make it concrete for the
# city's departments and for its party bodies and wards.
DECISIONS = (
    DecisionFact(
        "529", date(2022, 1, 11), "Ban Thường vụ Tỉnh ủy Vĩnh Phúc",
        "Giao chỉ tiêu, nhiệm vụ năm 2022 cho người đứng đầu các cơ quan, đơn vị", "province",
    ),
    DecisionFact(
        "934", date(2022, 2, 15), "Ban Thường vụ Thành ủy Vĩnh Yên",
        "Giao chỉ tiêu, nhiệm vụ năm 2022 cho các phòng, ban, ngành, đơn vị của thành phố", "city", "529",
    ),
    DecisionFact(
        "937", date(2022, 2, 21), "Ban Thường vụ Thành ủy Vĩnh Yên",
        "Giao chỉ tiêu, nhiệm vụ năm 2022 cho các chi bộ, đảng bộ cơ sở", "city", "529",
    ),
)


def decision_of(number: str) -> Decision:
    """The registered decision `number` as the domain's value (level and parent included)."""
    fact = next(d for d in DECISIONS if d.number == number)
    return Decision(number=fact.number, issued_on=fact.issued_on, issuer=fact.issuer, title=fact.title,
                    issuer_level=fact.issuer_level, parent_number=fact.parent_number)


@dataclass(frozen=True)
class UnitFact:
    unit_id: str
    name: str
    kind: str  # ward | commune | department | party_body | public_service | police
    head_title: str  # the head's office, used as the demo user's name


# A ward's or commune's targets come from Decision 937 (to the party cells and party
# committees): each is owned by the head of its Party committee (Bí thư Đảng ủy).
def _ward(uid: str, name: str) -> UnitFact:
    return UnitFact(uid, f"Phường {name}", "ward", f"Bí thư Đảng ủy phường {name}")


def _commune(uid: str, name: str) -> UnitFact:
    return UnitFact(uid, f"Xã {name}", "commune", f"Bí thư Đảng ủy xã {name}")


UNITS = (
    _ward("ngo-quyen", "Ngô Quyền"),
    _ward("dong-da", "Đống Đa"),
    _ward("lien-bao", "Liên Bảo"),
    _ward("tich-son", "Tích Sơn"),
    _ward("hoi-hop", "Hội Hợp"),
    _ward("khai-quang", "Khai Quang"),
    _ward("dong-tam", "Đồng Tâm"),
    _commune("dinh-trung", "Định Trung"),
    _commune("thanh-tru", "Thanh Trù"),
    UnitFact("tc-kh", "Phòng Tài chính - Kế hoạch", "department", "Trưởng phòng Tài chính - Kế hoạch"),
    UnitFact("tn-mt", "Phòng Tài nguyên và Môi trường", "department", "Trưởng phòng Tài nguyên và Môi trường"),
    UnitFact("ql-dt", "Phòng Quản lý đô thị", "department", "Trưởng phòng Quản lý đô thị"),
    UnitFact("noi-vu", "Phòng Nội vụ", "department", "Trưởng phòng Nội vụ"),
    UnitFact("kinh-te", "Phòng Kinh tế", "department", "Trưởng phòng Kinh tế"),
    UnitFact("thanh-tra", "Thanh tra thành phố", "department", "Chánh Thanh tra thành phố"),
    UnitFact("ban-qlda", "Ban Quản lý dự án đầu tư xây dựng", "public_service", "Giám đốc Ban Quản lý dự án đầu tư xây dựng"),
    UnitFact("ttpt-qd", "Trung tâm Phát triển quỹ đất", "public_service", "Giám đốc Trung tâm Phát triển quỹ đất"),
    UnitFact("cong-an", "Công an thành phố", "police", "Trưởng Công an thành phố"),
    UnitFact("vp-tu", "Văn phòng Thành ủy", "party_body", "Chánh Văn phòng Thành ủy"),
    UnitFact("ban-to-chuc", "Ban Tổ chức Thành ủy", "party_body", "Trưởng Ban Tổ chức Thành ủy"),
    UnitFact("ban-tuyen-giao", "Ban Tuyên giáo Thành ủy", "party_body", "Trưởng Ban Tuyên giáo Thành ủy"),
    UnitFact("ubkt", "Ủy ban Kiểm tra Thành ủy", "party_body", "Chủ nhiệm Ủy ban Kiểm tra Thành ủy"),
    UnitFact("ban-dan-van", "Ban Dân vận Thành ủy", "party_body", "Trưởng Ban Dân vận Thành ủy"),
)
UNIT_BY_ID = {u.unit_id: u for u in UNITS}


@dataclass(frozen=True)
class ClusterFact:
    cluster_id: str
    name: str
    head_unit_id: str
    deputy_unit_id: str
    member_unit_ids: tuple[str, ...]


CLUSTERS = (
    ClusterFact("cum-1", "Cụm thi đua số 1 (các phường khu vực trung tâm)", "ngo-quyen", "dong-da",
                ("ngo-quyen", "dong-da", "lien-bao", "tich-son", "hoi-hop")),
    ClusterFact("cum-2", "Cụm thi đua số 2 (các phường, xã khu vực ven đô)", "khai-quang", "dong-tam",
                ("khai-quang", "dong-tam", "dinh-trung", "thanh-tru")),
    ClusterFact("cum-3", "Cụm thi đua số 3 (khối quản lý nhà nước)", "tc-kh", "tn-mt",
                ("tc-kh", "tn-mt", "ql-dt", "noi-vu", "kinh-te", "thanh-tra")),
    ClusterFact("cum-4", "Cụm thi đua số 4 (khối Đảng, đơn vị sự nghiệp, lực lượng vũ trang)", "ban-to-chuc", "vp-tu",
                ("ban-to-chuc", "vp-tu", "ban-tuyen-giao", "ubkt", "ban-dan-van", "ban-qlda", "ttpt-qd", "cong-an")),
)


@dataclass(frozen=True)
class FormFact:
    """A form of commendation of the drive's reward rules (quy chế khen thưởng)."""

    form_id: str
    name: str
    recipient: str  # collective | individual
    scope: str  # cluster | campaign
    max_awards: int
    min_score_ratio: str
    max_overdue: int
    max_late: int
    top_rank: int | None = None


# The drive's reward rules, as such a plan sets them: the flag for the best unit of each
# cluster with (nearly) everything done and nothing overdue; certificates at lower thresholds.
REWARD_FORMS = (
    FormFact("co-thi-dua", "Cờ thi đua của Ban Thường vụ Thành ủy", "collective", "cluster", 1, "0.95", 0, 2, 1),
    FormFact("bang-khen", "Bằng khen của Chủ tịch UBND tỉnh Vĩnh Phúc", "collective", "campaign", 3, "0.9", 0, 3),
    FormFact("giay-khen", "Giấy khen của Ban Thường vụ Thành ủy (tập thể)", "collective", "cluster", 2, "0.8", 1, 5),
    FormFact("giay-khen-ca-nhan", "Giấy khen của Ban Thường vụ Thành ủy (cá nhân)", "individual", "campaign", 10,
             "0.8", 0, 5),
)


@dataclass(frozen=True)
class UserFact:
    user_id: str  # also the key in demo-tokens.json; no "_" (it separates a token's parts)
    name: str
    role: str
    unit_id: str | None = None


SECRETARIAT = UserFact("secretariat", "Văn phòng Thành ủy (thường trực đợt thi đua)", "secretariat")
BINH = UserFact("nguyen-ngoc-binh", "Nguyễn Ngọc Bình, Bí thư Thành ủy", "standing_committee")
NAM = UserFact("nguyen-hoai-nam", "Nguyễn Hoài Nam, Phó Bí thư Thường trực Thành ủy", "standing_committee")
INSPECTOR = UserFact("inspector", "Ủy ban Kiểm tra Thành ủy (kiểm tra viên)", "inspector")
UNIT_HEADS = tuple(UserFact(f"head-{u.unit_id}", u.head_title, "unit_head", u.unit_id) for u in UNITS)
USERS = (SECRETARIAT, BINH, NAM, INSPECTOR, *UNIT_HEADS)


def head_of(unit_id: str) -> UserFact:
    return next(u for u in UNIT_HEADS if u.unit_id == unit_id)


# The content areas of the drive (DOMAIN.md).
KTXH = "Phát triển kinh tế - xã hội"
CCHC = "Cải cách hành chính, chính quyền điện tử"
QLNN = "Hiệu lực, hiệu quả quản lý nhà nước"
PCTN = "Phòng, chống tham nhũng"
TKCLP = "Thực hành tiết kiệm, chống lãng phí"
KNTC = "Giải quyết khiếu nại, tố cáo"
XDD = "Xây dựng Đảng và hệ thống chính trị"
GPMB = "Bồi thường, giải phóng mặt bằng các dự án trọng điểm"
TNMT = "Tài nguyên và môi trường"
DATDAI = "Xử lý vi phạm đất đai (không phát sinh mới)"
HCM = "Học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh"
CTDT = "Các dự án chỉnh trang đô thị"
AREAS = (KTXH, CCHC, QLNN, PCTN, TKCLP, KNTC, XDD, GPMB, TNMT, DATDAI, HCM, CTDT)


@dataclass(frozen=True)
class TargetFact:
    key: str
    unit_id: str
    title: str
    area: str
    points: int
    decision: str  # number of the decision that assigned it
    measure: tuple[str, int, str, str] | None = None  # (kind, goal, unit, direction)


def _ward_targets(unit: UnitFact, n: int) -> list[TargetFact]:
    place = unit.name[0].lower() + unit.name[1:]  # "phường Ngô Quyền"
    pool = [
        (KTXH, f"Thu ngân sách nhà nước trên địa bàn {place} đạt và vượt dự toán năm 2022", 12,
         ("thu ngân sách so với dự toán", 100, "%", "up")),
        (GPMB, f"Hoàn thành bồi thường, giải phóng mặt bằng các dự án trọng điểm trên địa bàn {place}", 15, None),
        (DATDAI, f"Không để phát sinh mới vi phạm đất đai; xử lý dứt điểm vi phạm tồn đọng tại {place}", 10,
         ("số vụ vi phạm mới", 0, "vụ", "down")),
        (CCHC, f"Tỷ lệ hồ sơ thủ tục hành chính của {place} giải quyết trực tuyến đạt trên 50%", 8,
         ("hồ sơ trực tuyến", 50, "%", "up")),
        (XDD, f"Kết nạp đảng viên mới của Đảng bộ {place} đạt chỉ tiêu được giao", 6, None),
        (TNMT, f"Thu gom, xử lý 100% rác thải sinh hoạt trên địa bàn {place}", 8,
         ("rác thải được thu gom", 100, "%", "up")),
        (KNTC, f"Giải quyết 100% đơn thư khiếu nại, tố cáo thuộc thẩm quyền của UBND {place}", 8, None),
        (HCM, f"Đẩy mạnh học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh trong Đảng bộ {place}", 6,
         None),
        (CTDT, f"Hoàn thành các dự án chỉnh trang đô thị, vỉa hè, cây xanh các tuyến phố của {place}", 10, None),
    ]
    picks = [pool[(n + i) % len(pool)] for i in range(5)]
    decision = "937"
    return [
        TargetFact(f"{unit.unit_id}-{i + 1:02d}", unit.unit_id, title, area, points, decision,
                   measure)
        for i, (area, title, points, measure) in enumerate(picks)
    ]


_UNIT_TARGETS: dict[str, list[tuple[str, str, int, tuple[str, int, str, str] | None]]] = {
    "tc-kh": [
        (KTXH, "Tham mưu điều hành thu, chi ngân sách thành phố năm 2022 đạt và vượt dự toán", 12, None),
        (KTXH, "Giải ngân 100% kế hoạch vốn đầu tư công năm 2022", 15, ("vốn đã giải ngân", 100, "%", "up")),
        (TKCLP, "Tiết kiệm 10% chi thường xuyên của các cơ quan, đơn vị dự toán thành phố", 8,
         ("chi thường xuyên tiết kiệm", 10, "%", "up")),
        (PCTN, "Công khai dự toán, quyết toán ngân sách thành phố đúng quy định", 6, None),
        (QLNN, "Thẩm tra quyết toán các dự án hoàn thành đúng thời hạn", 8, None),
    ],
    "tn-mt": [
        (QLNN, "Cấp giấy chứng nhận quyền sử dụng đất lần đầu cho 100% hồ sơ đủ điều kiện", 12, None),
        (TNMT, "Hoàn thành kế hoạch sử dụng đất năm 2022 của thành phố", 10, None),
        (DATDAI, "Xử lý dứt điểm các vụ vi phạm đất đai tồn đọng trước năm 2022", 12,
         ("vụ vi phạm tồn đọng", 0, "vụ", "down")),
        (TNMT, "Kiểm soát ô nhiễm môi trường tại các cụm công nghiệp Khai Quang, Đồng Tâm", 8, None),
        (KNTC, "Giải quyết đúng hạn đơn thư về đất đai thuộc thẩm quyền", 8, None),
    ],
    "ql-dt": [
        (CCHC, "Cấp giấy phép xây dựng đúng hạn cho 100% hồ sơ hợp lệ", 8, None),
        (QLNN, "Lập quy hoạch phân khu các khu vực phát triển đô thị mới", 12, None),
        (QLNN, "Lập lại trật tự xây dựng, chỉnh trang đô thị các tuyến phố chính", 10, None),
        (KTXH, "Hoàn thành cải tạo hệ thống chiếu sáng công cộng các tuyến đường trung tâm", 8, None),
    ],
    "noi-vu": [
        (CCHC, "Nâng chỉ số cải cách hành chính của thành phố lên nhóm dẫn đầu tỉnh", 12, None),
        (QLNN, "Rà soát, sắp xếp tổ chức bộ máy, vị trí việc làm các cơ quan chuyên môn", 10, None),
        (CCHC, "Số hóa 100% hồ sơ, kết quả giải quyết thủ tục hành chính còn hiệu lực", 8,
         ("hồ sơ được số hóa", 100, "%", "up")),
        (QLNN, "Tổ chức khen thưởng kịp thời các tập thể, cá nhân tiêu biểu trong đợt cao điểm", 6, None),
    ],
    "kinh-te": [
        (KTXH, "Phát triển thêm 03 sản phẩm OCOP đạt từ 3 sao trở lên", 10, ("sản phẩm OCOP", 3, "sản phẩm", "up")),
        (KTXH, "Hỗ trợ thành lập mới 250 doanh nghiệp trên địa bàn thành phố", 10, ("doanh nghiệp mới", 250, "doanh nghiệp", "up")),
        (QLNN, "Kiểm tra, xử lý vi phạm về an toàn thực phẩm, hàng giả, gian lận thương mại", 8, None),
        (TKCLP, "Quản lý, sử dụng hiệu quả kinh phí khuyến công, khuyến nông", 6, None),
    ],
    "thanh-tra": [
        (PCTN, "Hoàn thành 100% kế hoạch thanh tra kinh tế - xã hội năm 2022", 12, None),
        (KNTC, "Giải quyết 100% đơn thư khiếu nại, tố cáo thuộc thẩm quyền của Chủ tịch UBND thành phố", 12, None),
        (PCTN, "Thanh tra trách nhiệm người đứng đầu trong phòng, chống tham nhũng tại 04 đơn vị", 8, None),
        (PCTN, "Đôn đốc thu hồi 100% tiền sai phạm theo kết luận thanh tra", 8,
         ("tiền sai phạm đã thu hồi", 100, "%", "up")),
    ],
    "ban-qlda": [
        (KTXH, "Hoàn thành đưa vào sử dụng tuyến đường trục trung tâm mở rộng", 15, None),
        (KTXH, "Giải ngân 100% vốn các dự án do Ban làm chủ đầu tư", 12, ("vốn đã giải ngân", 100, "%", "up")),
        (TKCLP, "Quyết toán dứt điểm các dự án hoàn thành tồn đọng", 8, None),
    ],
    "ttpt-qd": [
        (GPMB, "Hoàn thành bồi thường, GPMB dự án Khu đô thị mới phía Nam thành phố", 15, None),
        (GPMB, "Bàn giao mặt bằng sạch dự án đường vành đai thành phố", 15, None),
        (KTXH, "Tổ chức đấu giá quyền sử dụng đất đạt kế hoạch thu tiền sử dụng đất", 12, None),
        (GPMB, "Bố trí tái định cư cho 100% hộ dân đủ điều kiện", 10, ("hộ được tái định cư", 100, "%", "up")),
    ],
    "cong-an": [
        (QLNN, "Kéo giảm 5% số vụ phạm tội về trật tự xã hội so với năm 2021", 10, ("số vụ giảm", 5, "%", "up")),
        (CCHC, "Cấp căn cước công dân gắn chip cho 100% công dân đủ điều kiện", 10,
         ("công dân được cấp", 100, "%", "up")),
        (CCHC, "Làm sạch dữ liệu dân cư phục vụ Đề án 06 của Chính phủ", 8, None),
        (GPMB, "Bảo đảm an ninh, trật tự phục vụ giải phóng mặt bằng các dự án trọng điểm", 8, None),
    ],
    "vp-tu": [
        (CCHC, "Số hóa, xử lý văn bản đi, đến trên môi trường mạng trong các cơ quan Đảng", 8, None),
        (TKCLP, "Thực hành tiết kiệm chi hành chính của các cơ quan Đảng thành phố", 6, None),
        (XDD, "Tham mưu sơ kết đợt cao điểm thi đua đúng tiến độ", 6, None),
    ],
    "ban-to-chuc": [
        (XDD, "Kết nạp đảng viên mới toàn Đảng bộ thành phố đạt chỉ tiêu", 10, ("đảng viên mới", 250, "đảng viên", "up")),
        (XDD, "Kiện toàn cấp ủy, cán bộ chủ chốt các chi bộ, đảng bộ cơ sở", 8, None),
        (XDD, "Đánh giá, xếp loại chất lượng tổ chức cơ sở đảng và đảng viên đúng quy định", 6, None),
    ],
    "ban-tuyen-giao": [
        (XDD, "Tổ chức học tập, quán triệt nghị quyết của Đảng đến 100% đảng viên", 8, None),
        (XDD, "Tuyên truyền đợt cao điểm thi đua trên các phương tiện thông tin của thành phố", 6, None),
        (XDD, "Đấu tranh phản bác các quan điểm sai trái, thù địch trên không gian mạng", 6, None),
    ],
    "ubkt": [
        (PCTN, "Kiểm tra khi có dấu hiệu vi phạm đối với tổ chức đảng và đảng viên", 10, None),
        (KNTC, "Giải quyết dứt điểm tố cáo đối với đảng viên thuộc thẩm quyền", 8, None),
        (TKCLP, "Kiểm tra tài chính đảng tại các đảng bộ, chi bộ cơ sở", 6, None),
    ],
    "ban-dan-van": [
        (GPMB, "Vận động nhân dân đồng thuận bàn giao mặt bằng các dự án trọng điểm", 10, None),
        (KNTC, "Tổ chức đối thoại giữa người đứng đầu cấp ủy, chính quyền với nhân dân", 6, None),
        (XDD, "Nhân rộng mô hình \"Dân vận khéo\" ở các phường, xã", 6, None),
    ],
}


def _targets() -> tuple[TargetFact, ...]:
    facts: list[TargetFact] = []
    for n, unit in enumerate(UNITS):
        if unit.kind in ("ward", "commune"):
            facts += _ward_targets(unit, n)
            continue
        decision = "937" if unit.kind == "party_body" else "934"
        for i, (area, title, points, measure) in enumerate(_UNIT_TARGETS[unit.unit_id]):
            facts.append(TargetFact(f"{unit.unit_id}-{i + 1:02d}", unit.unit_id, title, area, points, decision, measure))
    # The provincial decision 529 assigned the heaviest targets to heads of units directly.
    return tuple(
        TargetFact(f.key, f.unit_id, f.title, f.area, f.points, "529", f.measure) if f.points >= 15 else f
        for f in facts
    )


TARGETS = _targets()


# The city's own targets under the province's 529, made concrete by the units' targets under
# 934 and 937 of the same content area (their children: the parent shows their rollup and
# completes by itself when the last of them does).
PARENT_TARGETS = (
    TargetFact("thanh-pho-hcm", "ban-tuyen-giao",
               "Đẩy mạnh học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh trong toàn Đảng bộ thành phố",
               HCM, 10, "529"),
    TargetFact("thanh-pho-ctdt", "ql-dt", "Hoàn thành các dự án chỉnh trang đô thị của thành phố năm 2022",
               CTDT, 10, "529"),
)
_PARENT_OF_AREA = {p.area: p.key for p in PARENT_TARGETS}


def parent_key_of(fact: TargetFact) -> str | None:
    """The key of the city's target that `fact` makes concrete (None: it has no parent)."""
    return _PARENT_OF_AREA.get(fact.area) if fact.decision in ("934", "937") else None
