//! Deterministic synthetic orgs: same [`GeneratorConfig`] → same [`Org`], on every machine.
//!
//! The shape exercises what a sync connector gets wrong: a department tree up to the platforms'
//! depth limit, a head per department, a manager chain that follows the department heads, people in
//! two departments, Chinese and other non-ASCII names with deliberate duplicates, every status, and an
//! app scope that leaves some managers outside it.

use std::collections::HashSet;

use crate::fixture::{Department, Org, Scope, Status, User};

/// Deepest department level (the root is level 1), as WeCom allows.
pub const MAX_DEPTH: u8 = 15;

#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    pub people: usize,
    /// Departments including the root; 0 is treated as 1.
    pub departments: usize,
    pub seed: u64,
    /// Share of departments (0.0–1.0) left outside the app scope. Scope is granted per subtree, so
    /// the ancestors of an excluded subtree (always including the root) are out of scope too and count
    /// towards this share; their heads become out-of-scope managers of in-scope people.
    pub out_of_scope_share: f64,
    pub disabled: usize,
    pub not_activated: usize,
    pub resigned: usize,
    /// Copied to [`Org::sensitive_fields`]; email and mobile are generated either way.
    pub sensitive_fields: bool,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            people: 200,
            departments: 20,
            seed: 1,
            out_of_scope_share: 0.1,
            disabled: 1,
            not_activated: 1,
            resigned: 1,
            sensitive_fields: true,
        }
    }
}

/// SplitMix64: tiny, fast, good enough for test data, and stable across platforms and releases.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; `n` must be positive.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任",
    "沈", "姚", "卢", "欧阳", "司马",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "萍", "红", "飞", "鹏", "辉", "晓", "建",
    "宇", "浩", "婷", "雪", "琳", "欣", "博", "文", "嘉", "怡", "子", "梓", "涵", "轩", "睿", "晨",
    "思", "雨",
];
/// Other scripts and diacritics, to catch byte/char confusion and normalisation bugs.
const OTHER_NAMES: &[&str] = &[
    "Zoë Müller",
    "José Ñúñez",
    "François Lefèvre",
    "Søren Ødegård",
    "Łukasz Wałęsa",
    "Ahmet Yılmaz",
    "Đặng Thị Hương",
    "Αλέξανδρος Παππάς",
    "Иван Петров",
    "山田 太郎",
    "佐藤 花子",
    "鈴木 一郎",
    "김민준",
    "이서연",
    "박지훈",
];
const ASCII_NAMES: &[&str] = &["Alex Chen", "Maria Garcia", "John O'Neil", "Priya Patel"];
const DEPARTMENT_NAMES: &[(&str, &str)] = &[
    ("研发", "R&D"),
    ("产品", "Product"),
    ("市场", "Marketing"),
    ("销售", "Sales"),
    ("财务", "Finance"),
    ("人力资源", "Human Resources"),
    ("法务", "Legal"),
    ("运营", "Operations"),
    ("客户服务", "Customer Service"),
    ("采购", "Procurement"),
    ("行政", "Administration"),
    ("数据", "Data"),
    ("信息安全", "Security"),
    ("设计", "Design"),
    ("质量保障", "Quality Assurance"),
    ("基础架构", "Infrastructure"),
];
const DEPARTMENT_SUFFIXES: &[(&str, &str)] = &[
    ("部", "Department"),
    ("中心", "Center"),
    ("组", "Team"),
    ("事业部", "Division"),
];
const TITLES: &[&str] = &[
    "工程师",
    "高级工程师",
    "产品经理",
    "设计师",
    "销售代表",
    "会计",
    "HR 专员",
    "运营专员",
    "测试工程师",
    "数据分析师",
    "Software Engineer",
];

/// Builds the org described by `config`. Runs in O(people + departments).
pub fn generate(config: &GeneratorConfig) -> Org {
    let mut rng = Rng(config.seed);
    let tree = Tree::generate(config.departments.max(1), &mut rng);
    let people = config.people;
    let count = tree.parent.len();

    // Department k is headed by person k; with fewer people than departments, heads double up.
    let head: Vec<Option<usize>> = (0..count)
        .map(|k| (people > 0).then(|| k % people))
        .collect();
    let departments = department_records(&tree, &head, &mut rng);

    let mut users = Vec::with_capacity(people);
    for person in 0..people {
        let headed: Vec<usize> = if person < count {
            (person..count).step_by(people).collect()
        } else {
            Vec::new()
        };
        let main = headed.first().copied().unwrap_or_else(|| rng.below(count));
        let manager = if headed.is_empty() {
            head[main].filter(|&h| h != person)
        } else {
            tree.manager_of_head(main, &head)
        };

        let mut member_of: Vec<i64> = headed.iter().map(|&k| k as i64 + 1).collect();
        let mut main_department = None;
        if member_of.is_empty() {
            member_of.push(main as i64 + 1);
            // Some people also belong to a second department; for half of them the main one is not
            // listed first, so `main_department` has to be honoured.
            if count > 1 && rng.percent(6) {
                let second = (main + 1 + rng.below(count - 1)) % count;
                if rng.percent(50) {
                    member_of.insert(0, second as i64 + 1);
                    main_department = Some(main as i64 + 1);
                } else {
                    member_of.push(second as i64 + 1);
                }
            }
        }

        let id = format!("u{:05}", person + 1);
        users.push(User {
            name: person_name(person, &users, &mut rng),
            email: Some(format!("{id}@example.cn")),
            mobile: Some(format!("138{:08}", person + 1)),
            title: title(person, &headed, &tree, &mut rng),
            employee_no: Some(format!("E{:06}", person + 1)),
            departments: member_of,
            main_department,
            manager: manager.map(|m| format!("u{:05}", m + 1)),
            status: Status::Active,
            extranet: false,
            profile: Default::default(),
            custom: Default::default(),
            id,
        });
    }
    assign_statuses(config, count, &mut users, &mut rng);

    Org {
        departments,
        users,
        scope: tree.scope(config.out_of_scope_share, &mut rng),
        sensitive_fields: config.sensitive_fields,
    }
}

/// The department tree by index (department id = index + 1); parents precede children.
struct Tree {
    parent: Vec<usize>,
    depth: Vec<u8>,
    children: Vec<Vec<usize>>,
}

impl Tree {
    /// About √count top-level departments (at most 12), then a random recursive tree: each further
    /// department hangs under a uniformly chosen earlier one, moved up while that one is at the depth
    /// limit. Large trees reach the limit.
    fn generate(count: usize, rng: &mut Rng) -> Tree {
        let top_level = ((count as f64).sqrt().round() as usize).clamp(1, 12);
        let mut parent = vec![0; count];
        let mut depth = vec![1u8; count];
        let mut children = vec![Vec::new(); count];
        for k in 1..count {
            let mut p = if k <= top_level { 0 } else { rng.below(k) };
            while depth[p] >= MAX_DEPTH {
                p = parent[p];
            }
            parent[k] = p;
            depth[k] = depth[p] + 1;
            children[p].push(k);
        }
        Tree {
            parent,
            depth,
            children,
        }
    }

    /// The manager of department `k`'s head: the nearest ancestor's head who is someone else.
    fn manager_of_head(&self, k: usize, head: &[Option<usize>]) -> Option<usize> {
        let me = head[k];
        let mut current = k;
        while current != 0 {
            current = self.parent[current];
            if head[current] != me {
                return head[current];
            }
        }
        None
    }

    /// Excludes random whole subtrees (plus, necessarily, their ancestors) until about `share` of the
    /// departments are out, and grants the maximal subtrees that remain.
    fn scope(&self, share: f64, rng: &mut Rng) -> Scope {
        let count = self.parent.len();
        let share = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let target = (share * count as f64).round() as usize;
        if target == 0 {
            return Scope::default();
        }
        if target >= count {
            return Scope {
                departments: Vec::new(),
                users: Vec::new(),
            };
        }
        let mut size = vec![1usize; count];
        for k in (1..count).rev() {
            size[self.parent[k]] += size[k];
        }
        let mut out = vec![false; count];
        let mut out_count = 0;
        let mut candidate = Vec::new();
        for _ in 0..count * 8 {
            if out_count >= target {
                break;
            }
            let k = 1 + rng.below(count - 1);
            if out[k] || size[k] > target - out_count {
                continue;
            }
            candidate.clear();
            self.collect_not_out(k, &out, &mut candidate);
            if candidate.len() <= target - out_count {
                out_count += candidate.len();
                for &d in &candidate {
                    out[d] = true;
                }
            }
        }
        if out_count == 0 {
            // Every pick overshot (small trees): exclude the cheapest subtree, i.e. the one with the
            // fewest departments plus ancestors, so at least the root's head is out of scope.
            let cheapest = (1..count)
                .min_by_key(|&k| size[k] + usize::from(self.depth[k]) - 1)
                .unwrap_or(1);
            candidate.clear();
            self.collect_not_out(cheapest, &out, &mut candidate);
            for &d in &candidate {
                out[d] = true;
            }
        }
        // `out` is closed under ancestors, so what is left is closed under descendants: granting
        // each in-scope department whose parent is out covers exactly the rest.
        let departments = (1..count)
            .filter(|&k| !out[k] && out[self.parent[k]])
            .map(|k| k as i64 + 1)
            .collect();
        Scope {
            departments,
            users: Vec::new(),
        }
    }

    /// Pushes the departments of `k`'s subtree and of its ancestor chain that are not out yet.
    fn collect_not_out(&self, k: usize, out: &[bool], into: &mut Vec<usize>) {
        let mut stack = vec![k];
        while let Some(d) = stack.pop() {
            if !out[d] {
                into.push(d);
            }
            stack.extend(&self.children[d]);
        }
        let mut current = k;
        while current != 0 && !out[self.parent[current]] {
            current = self.parent[current];
            into.push(current);
        }
    }
}

fn department_records(tree: &Tree, head: &[Option<usize>], rng: &mut Rng) -> Vec<Department> {
    let count = tree.parent.len();
    let mut taken: HashSet<(usize, String)> = HashSet::with_capacity(count);
    let mut departments = Vec::with_capacity(count);
    for (k, leader) in head.iter().enumerate() {
        let (name, name_en) = if k == 0 {
            (
                "示例科技有限公司".to_owned(),
                Some("Example Tech Co., Ltd.".to_owned()),
            )
        } else {
            let (base, base_en) = DEPARTMENT_NAMES[rng.below(DEPARTMENT_NAMES.len())];
            let (suffix, suffix_en) = DEPARTMENT_SUFFIXES[rng.below(DEPARTMENT_SUFFIXES.len())];
            // Platforms require sibling names to be unique.
            let mut name = format!("{base}{suffix}");
            let mut n = 1;
            while taken.contains(&(tree.parent[k], name.clone())) {
                n += 1;
                name = format!("{base}{suffix}{n}");
            }
            let name_en = rng.percent(70).then(|| {
                if n == 1 {
                    format!("{base_en} {suffix_en}")
                } else {
                    format!("{base_en} {suffix_en} {n}")
                }
            });
            taken.insert((tree.parent[k], name.clone()));
            (name, name_en)
        };
        departments.push(Department {
            id: k as i64 + 1,
            parent: (k > 0).then(|| tree.parent[k] as i64 + 1),
            name,
            name_en,
            order: 100_000 - k as i64,
            leaders: leader
                .map(|h| format!("u{:05}", h + 1))
                .into_iter()
                .collect(),
        });
    }
    departments
}

/// Mostly Chinese; about one in 37 people deliberately repeats an earlier person's name.
fn person_name(person: usize, earlier: &[User], rng: &mut Rng) -> String {
    if person % 37 == 17 {
        return earlier[rng.below(earlier.len())].name.clone();
    }
    match rng.below(100) {
        0..88 => {
            let mut name = rng.pick(SURNAMES).to_owned();
            name.push_str(rng.pick(GIVEN));
            if rng.percent(60) {
                name.push_str(rng.pick(GIVEN));
            }
            name
        }
        88..97 => rng.pick(OTHER_NAMES).to_owned(),
        _ => rng.pick(ASCII_NAMES).to_owned(),
    }
}

fn title(person: usize, headed: &[usize], tree: &Tree, rng: &mut Rng) -> Option<String> {
    let title = match headed.first() {
        Some(0) => "首席执行官",
        Some(&k) if tree.depth[k] == 2 => "副总裁",
        Some(&k) if tree.depth[k] == 3 => "总监",
        Some(_) => "经理",
        // A few people have no title, so clients meet the absent field.
        None if person % 20 == 19 => return None,
        None => rng.pick(TITLES),
    };
    Some(title.to_owned())
}

/// Gives the configured numbers of people a non-active status, preferring people who head nothing
/// and never touching the CEO (person 0).
fn assign_statuses(
    config: &GeneratorConfig,
    departments: usize,
    users: &mut [User],
    rng: &mut Rng,
) {
    let mut pool: Vec<usize> = (departments..users.len()).collect();
    let mut heads: Vec<usize> = (1..departments.min(users.len())).collect();
    // Partial Fisher–Yates over each group: cheap and deterministic.
    let wanted = config.disabled + config.not_activated + config.resigned;
    shuffle_prefix(&mut pool, wanted, rng);
    shuffle_prefix(&mut heads, wanted.saturating_sub(pool.len()), rng);
    pool.extend(heads);
    let statuses = std::iter::repeat_n(Status::Disabled, config.disabled)
        .chain(std::iter::repeat_n(
            Status::NotActivated,
            config.not_activated,
        ))
        .chain(std::iter::repeat_n(Status::Resigned, config.resigned));
    for (person, status) in pool.into_iter().zip(statuses) {
        users[person].status = status;
    }
}

fn shuffle_prefix(items: &mut [usize], n: usize, rng: &mut Rng) {
    for i in 0..n.min(items.len()) {
        let j = i + rng.below(items.len() - i);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn leaders_by_department(org: &Org) -> HashMap<i64, &str> {
        org.departments
            .iter()
            .map(|d| (d.id, d.leaders[0].as_str()))
            .collect()
    }

    #[test]
    fn same_seed_same_org_other_seed_other_org() {
        let config = GeneratorConfig::default();
        assert_eq!(generate(&config), generate(&config));
        assert_ne!(
            generate(&config),
            generate(&GeneratorConfig { seed: 2, ..config })
        );
    }

    #[test]
    fn default_org_is_valid_with_requested_counts() {
        let org = generate(&GeneratorConfig::default());
        assert_eq!(org.validate(), Ok(()));
        assert_eq!((org.users.len(), org.departments.len()), (200, 20));
        let count = |s: Status| org.users.iter().filter(|u| u.status == s).count();
        assert_eq!(
            (
                count(Status::Disabled),
                count(Status::NotActivated),
                count(Status::Resigned)
            ),
            (1, 1, 1)
        );
        let ids: HashSet<&str> = org.users.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids.len(), 200);
        assert!(
            org.users
                .iter()
                .all(|u| u.id.is_ascii() && u.email.is_some() && u.employee_no.is_some())
        );
    }

    #[test]
    fn managers_follow_department_heads() {
        let org = generate(&GeneratorConfig::default());
        let head = leaders_by_department(&org);
        let parent: HashMap<i64, Option<i64>> =
            org.departments.iter().map(|d| (d.id, d.parent)).collect();
        for user in &org.users {
            let main = user.main_department.unwrap_or(user.departments[0]);
            let expected = if head[&main] == user.id {
                parent[&main].map(|p| head[&p].to_owned())
            } else {
                Some(head[&main].to_owned())
            };
            assert_eq!(user.manager, expected, "{}", user.id);
        }
        let without_manager: Vec<&str> = org
            .users
            .iter()
            .filter(|u| u.manager.is_none())
            .map(|u| u.id.as_str())
            .collect();
        assert_eq!(
            without_manager,
            vec![head[&1]],
            "only the CEO has no manager"
        );
    }

    #[test]
    fn some_in_scope_people_have_out_of_scope_managers() {
        let org = generate(&GeneratorConfig::default());
        let visibility = org.visibility();
        assert!(
            !visibility.is_department_visible(1),
            "the root is out of scope"
        );
        let visible: HashMap<&str, bool> = org
            .users
            .iter()
            .map(|u| (u.id.as_str(), visibility.is_user_visible(u)))
            .collect();
        let orphaned = org
            .users
            .iter()
            .filter(|u| visible[u.id.as_str()] && u.manager.as_deref().is_some_and(|m| !visible[m]))
            .count();
        assert!(orphaned > 0);
        let out = org.departments.len() - visibility.departments.len();
        assert!(
            (1..=4).contains(&out),
            "about 10% of 20 departments out of scope, got {out}"
        );
    }

    #[test]
    fn zero_share_scopes_everything() {
        let org = generate(&GeneratorConfig {
            out_of_scope_share: 0.0,
            ..GeneratorConfig::default()
        });
        assert_eq!(org.scope, Scope::default());
    }

    #[test]
    fn names_are_varied_and_some_repeat() {
        let org = generate(&GeneratorConfig {
            people: 2000,
            ..GeneratorConfig::default()
        });
        let mut seen = HashSet::new();
        let duplicates = org
            .users
            .iter()
            .filter(|u| !seen.insert(u.name.as_str()))
            .count();
        assert!(duplicates >= 2000 / 37);
        let cjk = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
        let chinese = org.users.iter().filter(|u| u.name.chars().all(cjk)).count();
        assert!(chinese > 1600, "mostly Chinese names, got {chinese}");
        assert!(
            org.users
                .iter()
                .any(|u| !u.name.is_ascii() && !u.name.chars().all(cjk))
        );
        assert!(
            org.users
                .iter()
                .any(|u| u.departments.len() == 2 && u.main_department.is_some())
        );
        assert!(
            org.users
                .iter()
                .any(|u| u.departments.len() == 2 && u.main_department.is_none())
        );
    }

    #[test]
    fn large_org_respects_depth_limit_and_validates() {
        let org = generate(&GeneratorConfig {
            people: 100_000,
            departments: 2_000,
            out_of_scope_share: 0.2,
            ..GeneratorConfig::default()
        });
        assert_eq!(org.validate(), Ok(()));
        let parent: HashMap<i64, Option<i64>> =
            org.departments.iter().map(|d| (d.id, d.parent)).collect();
        for department in &org.departments {
            let (mut depth, mut current) = (1, department.parent);
            while let Some(p) = current {
                depth += 1;
                current = parent[&p];
            }
            assert!(
                depth <= MAX_DEPTH,
                "department {} at depth {depth}",
                department.id
            );
        }
        let out = org.departments.len() - org.visible_department_ids().len();
        assert!(
            (300..=400).contains(&out),
            "about 20% of 2000 departments out of scope, got {out}"
        );
    }

    #[test]
    fn degenerate_sizes_still_validate() {
        for (people, departments) in [(0, 0), (0, 5), (1, 1), (3, 10), (10, 1)] {
            let org = generate(&GeneratorConfig {
                people,
                departments,
                ..GeneratorConfig::default()
            });
            assert_eq!(
                org.validate(),
                Ok(()),
                "{people} people, {departments} departments"
            );
            assert_eq!(org.users.len(), people);
        }
    }
}
