package abalone

import java.io.File
import java.time.Instant
import java.time.temporal.ChronoUnit

import scala.io.Source
import scala.util.Using

import org.apache.spark.ml.evaluation.RegressionEvaluator
import org.apache.spark.ml.feature.VectorAssembler
import org.apache.spark.ml.regression.LinearRegression
import org.apache.spark.sql.{Column, DataFrame, SparkSession}
import org.apache.spark.sql.functions._
import org.apache.spark.sql.types.{DoubleType, StructField, StructType}

import Contract._

/** Validation: the same checks, thresholds and report as processing_scripts/{sklearn,pyspark}/validate.py:
  * schema, nulls, feature values, row counts, split sizes vs the split rule (a binomial bound), leakage (row_hash bucket + no hash in two
  * splits), scaler fitted on train, drift (standardised mean difference), a baseline LinearRegression on
  * `rings` (RMSE, MAE, R^2) and, given the raw input, its ranges and row count. Writes
  * validation_report.{json,md}; a failed check exits 1 with a one-line reason in the message file.
  */
object Validate {
  type Check = Map[String, Any]
  private val CsvColumns = "rings" +: Features
  private val RawDefault = "/opt/ml/processing/input/raw"
  private val TransformDefault = "/opt/ml/processing/input/transform"

  val Defaults: Map[String, String] = Map(
    "train" -> "/opt/ml/processing/input/train",
    "validation" -> "/opt/ml/processing/input/validation",
    "test" -> "/opt/ml/processing/input/test",
    "raw" -> "",       // optional: default /opt/ml/processing/input/raw if present
    "transform" -> "", // optional: default /opt/ml/processing/input/transform if present
    "output" -> "/opt/ml/processing/output/report",
    "message-file" -> "/opt/ml/output/message",
    "train-ratio" -> "0.7",
    "validation-ratio" -> "0.15",
    "split-max-sigma" -> "5", // split sizes: max sd of Binomial(n, p) (plus half a row)
    "max-drift" -> "0.25",
    "min-r2" -> "0.3",
    "max-rmse" -> ""
  )

  final class SchemaException(message: String) extends IllegalArgumentException(message)

  final case class Stats(name: String, rows: Long, complete: Long, nulls: Map[String, Long], bad: Map[String, Long],
      mean: Seq[Double], variance: Seq[Double], hasHash: Boolean)

  def main(argv: Array[String]): Unit = Io.exit(exec(argv))

  /** The job; its exit code (1 when it cannot run or a check fails, with the message file written). */
  def exec(argv: Array[String]): Int = {
    val args = new Args(argv, Defaults)
    val shared = Io.sharedSession
    val spark = Io.session("abalone-validate")
    val report: Map[String, Any] =
      try run(spark, args)
      catch {
        case e: Exception =>
          Io.log(s"ERROR validation could not run: $e")
          Io.writeMessage(args("message-file"), s"validation could not run: ${e.getClass.getSimpleName}: ${e.getMessage}")
          null
      } finally if (!shared) spark.stop()
    if (report == null) return 1
    val failed = report("checks").asInstanceOf[Seq[Check]].filter(_("status") == "fail")
    if (failed.nonEmpty) {
      val reason = failed.map(c => s"${c("name")}: ${c("detail")}").mkString("; ")
      Io.writeMessage(args("message-file"), s"validation failed: $reason")
      Io.log(s"ERROR validation failed: $reason")
      return 1
    }
    Io.log("validation passed")
    0
  }

  def check(name: String, ok: Option[Boolean], detail: String): Check =
    Map("name" -> name, "status" -> ok.map(if (_) "pass" else "fail").getOrElse("skip"), "detail" -> detail)

  private def f4(v: Double): String = f"$v%.4f"

  def dataFormat(path: String, what: String): String = {
    if (!new File(Io.localPath(path)).exists) throw new java.io.FileNotFoundException(s"$what: $path does not exist")
    val kinds = Io.dataFiles(path).map(n => if (n.endsWith(".parquet") || n.endsWith(".pq")) "parquet" else "csv").toSet
    if (kinds.size != 1)
      throw new IllegalArgumentException(s"$what: expected CSV or Parquet files (one format) under $path, found ${Io.dataFiles(path).size}")
    kinds.head
  }

  /** Our Parquet (all columns) or the headerless CSV of `Split --format csv` (label first). */
  def readSplit(spark: SparkSession, path: String, what: String): DataFrame =
    if (dataFormat(path, what) == "csv") spark.read.schema(StructType(CsvColumns.map(StructField(_, DoubleType)))).csv(path)
    else {
      val df = spark.read.parquet(path)
      val missing = CsvColumns.filterNot(df.columns.contains)
      if (missing.nonEmpty) throw new SchemaException(s"$what $path: missing column(s) ${missing.mkString("[", ", ", "]")}")
      df.select(CsvColumns.map(c => col(c).cast("double")) ++ Seq("split", "row_hash").filter(df.columns.contains).map(col): _*)
    }

  private def isComplete(c: String): Column = col(c).isNotNull && !isnan(col(c)) && !col(c).isin(Double.PositiveInfinity, Double.NegativeInfinity)
  /** The label and every feature present and finite: the rows the moments and the model use. */
  def allComplete: Column = CsvColumns.map(isComplete).reduce(_ && _)
  private def countIf(cond: Column): Column = sum(when(cond, 1L).otherwise(0L))

  def splitStats(df: DataFrame, name: String, range: (Long, Long)): Stats = {
    val ok = allComplete
    val anyNull = CsvColumns.map(c => col(c).isNull || isnan(col(c))).reduce(_ || _)
    val onehotBad = OneHot.map(c => !col(c).isin(0.0, 1.0)).reduce(_ || _) || OneHot.map(col).reduce(_ + _) > 1
    val hasHash = df.columns.contains("row_hash")
    var aggs = Seq(count(lit(1)).as("rows"), countIf(ok).as("complete")) ++
      CsvColumns.map(c => countIf(col(c).isNull || isnan(col(c))).as(s"null_$c")) ++
      Seq(countIf(!ok && !anyNull).as("non_finite"), countIf(ok && onehotBad).as("onehot")) ++
      Features.map(c => mean(when(ok, col(c))).as(s"mean_$c")) ++ Features.map(c => var_samp(when(ok, col(c))).as(s"var_$c"))
    if (df.columns.contains("split"))
      aggs ++= Seq(countIf(col("split").isNull).as("null_split"), countIf(col("split") =!= name).as("split_label"))
    if (hasHash) {
      val bucket = pmod(col("row_hash"), lit(10000L))
      aggs ++= Seq(countIf(col("row_hash").isNull).as("null_row_hash"), countIf(bucket < range._1 || bucket >= range._2).as("bucket"))
    }
    val row = df.agg(aggs.head, aggs.tail: _*).head()
    val names = row.schema.fieldNames.toSet
    def long(k: String): Long = if (names.contains(k) && !row.isNullAt(row.fieldIndex(k))) row.getAs[Number](k).longValue else 0L
    def double(k: String): Double = if (!row.isNullAt(row.fieldIndex(k))) row.getAs[Double](k) else 0.0
    Stats(name, long("rows"), long("complete"),
      (CsvColumns ++ Seq("split", "row_hash")).filter(c => names.contains(s"null_$c")).map(c => c -> long(s"null_$c")).toMap,
      Seq("non_finite", "onehot", "split_label", "bucket").map(k => k -> long(k)).toMap,
      Features.map(c => double(s"mean_$c")), Features.map(c => double(s"var_$c")), hasHash)
  }

  /** A split's fraction, the rule's probability p, the deviation allowed and how many sd it is off (None when p is 0 or 1). */
  final case class SplitBound(fraction: Double, p: Double, allowed: Double, sigmas: Option[Double])

  /** The binomial bound of the split sizes, as processing_scripts/{sklearn,pyspark} compute it: each row's split
    * comes from its own hash bucket (pmod(row_hash, 10000)), whatever the other rows, so a split's row count is
    * Binomial(n, p), p = its bucket range / 10000, and its fraction has sd sqrt(p (1 - p) / n) (0.0067 for p = 0.25 on
    * 4,177 rows, 0.00014 on 10M: a fixed tolerance is too tight on small data and too loose on big data). Allowed:
    * |fraction - p| <= maxSigma * sd + 0.5 / n (half a row); at 5 sd a correct split fails one check in ~1.7 million.
    */
  def splitBounds(rows: Map[String, Long], ranges: Map[String, (Long, Long)], maxSigma: Double): Map[String, SplitBound] = {
    val n = rows.values.sum.toDouble
    Splits.map { s =>
      val p = (ranges(s)._2 - ranges(s)._1) / 10000.0
      val sd = if (n > 0) math.sqrt(p * (1 - p) / n) else 0.0
      val fraction = if (n > 0) rows(s) / n else 0.0
      s -> SplitBound(fraction, p, maxSigma * sd + (if (n > 0) 0.5 / n else 0.0), if (sd > 0) Some(math.abs(fraction - p) / sd) else None)
    }.toMap
  }

  /** The split_sizes check: every split within `splitBounds`' binomial bound; the detail states the bound. */
  def splitSizeCheck(rows: Map[String, Long], ranges: Map[String, (Long, Long)], maxSigma: Double): Check = {
    val n = rows.values.sum
    if (n == 0) return check("split_sizes", None, "no rows: nothing to compare with the split rule")
    val b = splitBounds(rows, ranges, maxSigma)
    val outside = Splits.filter(s => math.abs(b(s).fraction - b(s).p) > b(s).allowed)
    val parts = Splits.map(s => s"$s ${f4(b(s).fraction)} (expected ${f4(b(s).p)} +/- ${f4(b(s).allowed)})").mkString(", ")
    val sigma = if (maxSigma == math.rint(maxSigma)) maxSigma.toLong.toString else maxSigma.toString
    val rule = s"$sigma sd of Binomial(n=$n, p) + 0.5/n"
    if (outside.isEmpty) check("split_sizes", Some(true), s"$parts; bound $rule")
    else {
      val why = outside.map { s =>
        s"$s has ${rows(s)} of $n rows (${f4(b(s).fraction)}), " +
          b(s).sigmas.map(z => f"$z%.1f sd from the rule's ${f4(b(s).p)}").getOrElse(s"the rule gives it exactly ${f4(b(s).p)}")
      }.mkString("; ")
      check("split_sizes", Some(false), s"$why; allowed $rule: not a hash split with these ratios")
    }
  }

  def splitChecks(stats: Map[String, Stats], ranges: Map[String, (Long, Long)], maxSigma: Double, transform: Option[Map[String, Map[String, Double]]]): Seq[Check] = {
    val nulls = stats("train").nulls.keys.toSeq.map(c => c -> stats.values.map(_.nulls.getOrElse(c, 0L)).sum).filter(_._2 > 0).toMap
    val bad = (for (n <- Splits; (k, v) <- stats(n).bad if v > 0 && Set("non_finite", "onehot")(k)) yield s"$n.$k" -> v).toMap
    val rows = Splits.map(n => n -> stats(n).rows).toMap
    val problems = Splits.filter(rows(_) == 0).map(n => s"$n is empty") ++
      Splits.filter(n => stats(n).bad("split_label") > 0).map(n => s"$n has ${stats(n).bad("split_label")} row(s) labelled another split") ++
      transform.toSeq.flatMap(t => Splits.flatMap(n => t("counts").get(n).map(_.toLong).filter(_ != rows(n)).map(e => s"$n: ${rows(n)} rows, preprocessing.json says $e")))
    Seq(
      check("nulls", Some(nulls.isEmpty), if (nulls.isEmpty) "no nulls" else s"null values: $nulls"),
      check("feature_values", Some(bad.isEmpty), if (bad.isEmpty) "finite; one-hot in {0,1}, at most one 1" else s"invalid values: $bad"),
      check("row_counts", Some(problems.isEmpty), if (problems.isEmpty) s"rows per split $rows" else problems.mkString("; ")),
      splitSizeCheck(rows, ranges, maxSigma)
    )
  }

  def leakageCheck(tables: Map[String, DataFrame], stats: Map[String, Stats]): Check = {
    if (!stats.values.forall(_.hasHash)) return check("leakage", None, "no row_hash column (CSV splits): not checked")
    val misplaced = Splits.filter(n => stats(n).bad("bucket") > 0).map(n => n -> stats(n).bad("bucket")).toMap
    if (misplaced.nonEmpty) return check("leakage", Some(false), s"rows whose row_hash belongs to another split: $misplaced")
    val hashes = tables.map { case (n, df) => n -> df.select("row_hash").distinct() }
    val shared = Seq("train" -> "validation", "train" -> "test", "validation" -> "test")
      .map { case (a, b) => s"$a&$b" -> hashes(a).intersect(hashes(b)).count() }.filter(_._2 > 0).toMap
    check("leakage", Some(shared.isEmpty), if (shared.isEmpty) "no row_hash in two splits" else s"row_hash in two splits: $shared")
  }

  /** Train numerics standardised with train statistics: mean 0, sample sd 1 (constant columns: 0). */
  def scalerCheck(train: Stats): Check = {
    val num = OneHot.size until Features.size
    val dev = (num.map(i => math.abs(train.mean(i))) ++ num.filter(train.variance(_) > 0).map(i => math.abs(math.sqrt(train.variance(i)) - 1))).max
    check("scaler_fitted_on_train", Some(dev <= 1e-6), f"train numerics: max |mean|, |sd - 1| = $dev%.2e (<= 1e-6)")
  }

  /** Standardised mean difference per feature: |mean_a - mean_b| / sqrt((var_a + var_b) / 2). */
  def smd(a: Stats, b: Stats): Map[String, Double] = Features.indices.map { i =>
    val pooled = math.sqrt((a.variance(i) + b.variance(i)) / 2)
    Features(i) -> (if (pooled > 0) math.abs(a.mean(i) - b.mean(i)) / pooled else 0.0)
  }.toMap

  /** OLS on rings (Spark ML LinearRegression, no regularisation) on complete rows; metrics per split. */
  def baseline(tables: Map[String, DataFrame]): (Map[String, Any], Map[String, Map[String, Any]]) = {
    val assembler = new VectorAssembler().setInputCols(Features.toArray).setOutputCol("features").setHandleInvalid("skip")
    val usable = tables.map { case (n, df) => n -> df.filter(allComplete) }
    val nTrain = usable("train").count()
    if (nTrain == 0) throw new IllegalArgumentException("no complete train rows to fit the baseline model")
    val model = new LinearRegression().setFeaturesCol("features").setLabelCol("rings").setRegParam(0.0)
      .fit(assembler.transform(usable("train")))
    val fit = Map("method" -> s"Spark ML LinearRegression (no regularisation) on all $nTrain train rows",
      "intercept" -> model.intercept, "coefficients" -> Features.zip(model.coefficients.toArray).toMap)
    val results = Seq("validation", "test").map { n =>
      val pred = model.transform(assembler.transform(usable(n)))
      val rows = pred.count()
      val ev = new RegressionEvaluator().setLabelCol("rings").setPredictionCol("prediction")
      n -> (if (rows == 0) Map[String, Any]("rows" -> 0L, "rmse" -> null, "mae" -> null, "r2" -> null)
      else {
        val r2 = ev.setMetricName("r2").evaluate(pred)
        Map[String, Any]("rows" -> rows, "rmse" -> ev.setMetricName("rmse").evaluate(pred),
          "mae" -> ev.setMetricName("mae").evaluate(pred), "r2" -> (if (r2.isNaN || r2.isInfinite) null else r2))
      })
    }.toMap
    (fit, results)
  }

  def rawChecks(spark: SparkSession, raw: Option[String], splitRows: Long): (Seq[Check], Option[Map[String, Any]]) = raw match {
    case None => (Seq(check("raw_ranges", None, "no raw input given")), None)
    case Some(path) =>
      val df = if (dataFormat(path, "--raw") == "csv") spark.read.option("header", "true").csv(path) else spark.read.parquet(path)
      val v = (Numeric :+ "rings").map(c => c -> col(c).cast("string").try_cast("double")).toMap
      val negative = Numeric.map(c => when(!(v(c) >= 0) || v(c).isin(Double.PositiveInfinity, Double.NegativeInfinity), 1L).otherwise(0L)).reduce(_ + _)
      val rawCols = "sex" +: Numeric :+ "rings"
      val aggs = Seq(count(lit(1)).as("rows")) ++
        rawCols.map(c => countIf(col(c).isNull || v.get(c).map(_.isNull).getOrElse(lit(false))).as(c)) ++
        Seq(countIf(!col("sex").isin("F", "I", "M")).as("unknown_sex"), sum(negative).as("negative_or_non_finite"),
          countIf(v("rings") < 0 || v("rings") =!= floor(v("rings"))).as("bad_rings"))
      val row = df.agg(aggs.head, aggs.tail: _*).head()
      def long(k: String): Long = if (row.isNullAt(row.fieldIndex(k))) 0L else row.getAs[Number](k).longValue
      val kinds = Seq("unknown_sex", "negative_or_non_finite", "bad_rings")
      val prof = Map[String, Any]("rows" -> long("rows"), "nulls" -> rawCols.map(c => c -> long(c)).toMap) ++ kinds.map(k => k -> long(k))
      val nulls = rawCols.map(c => c -> long(c)).filter(_._2 > 0).toMap
      val problems = kinds.filter(long(_) > 0).map(k => s"$k=${long(k)}") ++ (if (nulls.nonEmpty) Seq(s"nulls $nulls") else Nil)
      (Seq(
        check("raw_ranges", Some(problems.isEmpty), if (problems.isEmpty) "sex in F/I/M, numerics >= 0 and finite, rings integer >= 0" else problems.mkString("; ")),
        check("raw_row_count", Some(long("rows") == splitRows), s"raw ${long("rows")} rows, splits $splitRows rows")
      ), Some(prof))
  }

  /** An explicit path must exist; the default one is used only when present (the input is optional). */
  def resolveOptional(path: String, default: String, what: String): Option[String] =
    if (path.nonEmpty) {
      if (!new File(Io.localPath(path)).exists) throw new java.io.FileNotFoundException(s"$what: $path does not exist")
      Some(path)
    } else Some(default).filter(new File(_).exists)

  /** counts and ratios of preprocessing.json, read without a JSON library (flat numeric sections). */
  def loadTransform(path: Option[String]): Option[Map[String, Map[String, Double]]] = path.map { p =>
    val f = new File(Io.localPath(p))
    val text = Using.resource(Source.fromFile(if (f.isDirectory) new File(f, "preprocessing.json") else f))(_.mkString)
    def section(name: String): Map[String, Double] =
      ("\"" + name + "\"\\s*:\\s*\\{([^}]*)\\}").r.findFirstMatchIn(text).map { m =>
        "\"(\\w+)\"\\s*:\\s*([-0-9.eE+]+)".r.findAllMatchIn(m.group(1)).map(x => x.group(1) -> x.group(2).toDouble).toMap
      }.getOrElse(Map.empty)
    Map("counts" -> section("counts"), "ratios" -> section("ratios"))
  }

  def evaluate(spark: SparkSession, args: Args, transform: Option[Map[String, Map[String, Double]]]): Map[String, Any] = {
    val doc = transform.map(_("ratios")).getOrElse(Map.empty)
    val (tr, va) = (doc.getOrElse("train", args.double("train-ratio")), doc.getOrElse("validation", args.double("validation-ratio")))
    val ratios = Map("train" -> tr, "validation" -> va, "test" -> math.max(0.0, 1.0 - tr - va))
    val (t1, t2) = FeatureEngineering.splitBounds(tr, va)
    val ranges = Map("train" -> (0L, t1), "validation" -> (t1, t2), "test" -> (t2, 10000L))
    val tables = try Splits.map(n => n -> readSplit(spark, args(n), s"--$n").cache()).toMap catch {
      case e: SchemaException =>
        return Map("checks" -> Seq(check("schema", Some(false), e.getMessage)), "splits" -> Map.empty, "metrics" -> Map.empty, "drift" -> Map.empty)
    }
    val stats = Splits.map(n => n -> splitStats(tables(n), n, ranges(n))).toMap
    var checks = Seq(check("schema", Some(true), "all splits have the features table's columns")) ++
      splitChecks(stats, ranges, args.double("split-max-sigma"), transform) ++
      Seq(leakageCheck(tables, stats), scalerCheck(stats("train")))
    val drift = Seq("validation", "test").filter(stats(_).complete > 0).map(n => n -> smd(stats("train"), stats(n))).toMap
    val maxDrift = args.double("max-drift")
    drift.toSeq.flatMap { case (n, d) => d.map { case (c, v) => (n, c, v) } }.maxByOption(_._3).foreach { case (n, c, v) =>
      checks :+= check("drift", Some(v <= maxDrift), s"max SMD ${f4(v)} ($n vs train, $c); limit $maxDrift")
    }
    val (fit, results) = baseline(tables)
    val minR2 = args.double("min-r2")
    val maxRmse = Option(args("max-rmse")).filter(_.nonEmpty).map(_ => args.double("max-rmse"))
    for (n <- Seq("validation", "test")) {
      val r2 = Option(results(n)("r2")).map(_.asInstanceOf[Double])
      checks :+= check(s"r2_$n", Some(r2.exists(_ >= minR2)), s"R^2 $n ${r2.map(v => BigDecimal(v).setScale(4, BigDecimal.RoundingMode.HALF_EVEN).toString).getOrElse("None")} (min $minR2)")
      maxRmse.foreach { m =>
        val rmse = Option(results(n)("rmse")).map(_.asInstanceOf[Double])
        checks :+= check(s"rmse_$n", Some(rmse.exists(_ <= m)), s"RMSE $n ${rmse.getOrElse("None")} (max $m)")
      }
    }
    val total = math.max(1L, stats.values.map(_.rows).sum).toDouble
    val bounds = splitBounds(stats.map { case (n, s) => n -> s.rows }, ranges, args.double("split-max-sigma"))
    val splits = Splits.map(n => n -> Map("rows" -> stats(n).rows, "fraction" -> stats(n).rows / total, "expected_ratio" -> ratios(n),
      "allowed_deviation" -> bounds(n).allowed)).toMap
    Map("checks" -> checks, "splits" -> splits, "metrics" -> (results + ("model" -> fit)), "drift" -> drift)
  }

  def run(spark: SparkSession, args: Args): Map[String, Any] = {
    val start = System.nanoTime()
    val raw = resolveOptional(args("raw"), RawDefault, "--raw")
    val transform = loadTransform(resolveOptional(args("transform"), TransformDefault, "--transform"))
    val evaluated = evaluate(spark, args, transform)
    val splitRows = evaluated("splits").asInstanceOf[Map[String, Map[String, Any]]].values.map(_("rows").asInstanceOf[Long]).sum
    val (rawResult, profile) = rawChecks(spark, raw, splitRows)
    val checks = evaluated("checks").asInstanceOf[Seq[Check]] ++ rawResult
    val failed = checks.exists(_("status") == "fail")
    val report = evaluated ++ profile.map(p => "raw" -> p) ++ Map(
      "checks" -> checks,
      "status" -> (if (failed) "failed" else "passed"),
      "engine" -> "scala",
      "generated_at" -> Instant.now().truncatedTo(ChronoUnit.SECONDS).toString,
      "elapsed_seconds" -> BigDecimal((System.nanoTime() - start) / 1e9).setScale(3, BigDecimal.RoundingMode.HALF_EVEN).toDouble,
      "inputs" -> Map("train" -> args("train"), "validation" -> args("validation"), "test" -> args("test"), "raw" -> raw.orNull,
        "transform" -> transform.isDefined),
      "thresholds" -> Map("split_max_sigma" -> args.double("split-max-sigma"), "max_drift" -> args.double("max-drift"),
        "min_r2" -> args.double("min-r2"), "max_rmse" -> Option(args("max-rmse")).filter(_.nonEmpty).map(v => v.toDouble: Any).orNull)
    )
    checks.foreach(c => Io.log(f"check ${c("name")}%-24s ${c("status")}%-4s ${c("detail")}"))
    Io.writeText(args("output"), "validation_report.json", Io.json(report) + "\n")
    Io.writeText(args("output"), "validation_report.md", markdown(report))
    Io.log(s"wrote validation_report.json and validation_report.md to ${args("output")}")
    report
  }

  def markdown(report: Map[String, Any]): String = {
    val checks = report("checks").asInstanceOf[Seq[Check]]
    val splits = report("splits").asInstanceOf[Map[String, Map[String, Any]]]
    val metrics = report("metrics").asInstanceOf[Map[String, Map[String, Any]]]
    val drift = report("drift").asInstanceOf[Map[String, Map[String, Double]]]
    def fmt(v: Any): String = if (v == null) "n/a" else f4(v.asInstanceOf[Double])
    var lines = Seq(s"# Validation report: ${report("status").toString.toUpperCase}", "",
      s"Engine: scala. Generated ${report("generated_at")} in ${report("elapsed_seconds")} s.", "",
      "## Checks", "", "| check | status | detail |", "|---|---|---|") ++
      checks.map(c => s"| ${c("name")} | ${c("status")} | ${c("detail").toString.replace("|", "\\|")} |")
    if (splits.nonEmpty)
      lines ++= Seq("", "## Split sizes", "", "| split | rows | fraction | expected | allowed +/- |", "|---|---:|---:|---:|---:|") ++
        Splits.filter(splits.contains).map { n =>
          val s = splits(n)
          f"| $n | ${s("rows").asInstanceOf[Long]}%,d | ${f4(s("fraction").asInstanceOf[Double])} | ${f4(s("expected_ratio").asInstanceOf[Double])} | ${f4(s("allowed_deviation").asInstanceOf[Double])} |"
        } ++ Seq("", s"Allowed: ${report("thresholds").asInstanceOf[Map[String, Any]]("split_max_sigma")} sd of Binomial(n, p) + half a row.")
    if (metrics.nonEmpty)
      lines ++= Seq("", "## Baseline model (linear regression on rings)", "", s"Method: ${metrics("model")("method")}.", "",
        "| split | rows | RMSE | MAE | R^2 |", "|---|---:|---:|---:|---:|") ++
        Seq("validation", "test").filter(metrics.contains).map { n =>
          val m = metrics(n); f"| $n | ${m("rows").asInstanceOf[Long]}%,d | ${fmt(m("rmse"))} | ${fmt(m("mae"))} | ${fmt(m("r2"))} |"
        }
    for (n <- Seq("validation", "test") if drift.contains(n))
      lines ++= Seq("", s"Largest drift, $n vs train (SMD): " + drift(n).toSeq.sortBy(-_._2).take(3).map { case (c, v) => s"$c ${f4(v)}" }.mkString(", "))
    lines.mkString("\n") + "\n"
  }
}
