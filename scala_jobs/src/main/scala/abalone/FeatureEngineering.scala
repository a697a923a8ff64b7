package abalone

import java.io.{BufferedReader, File, FileInputStream, InputStreamReader}
import java.nio.charset.StandardCharsets
import java.util.zip.GZIPInputStream

import org.apache.spark.sql.{Column, DataFrame, SparkSession}
import org.apache.spark.sql.functions._
import org.apache.spark.sql.types.{DoubleType, StringType, StructField, StructType}

import Contract._

/** Feature engineering: the contract's hash split, then the one-hot sex encoding (fixed F, I, M) and the
  * standard scaler fitted on the train rows only and applied to every row. The same job as
  * processing_scripts/pyspark/feature_engineering.py, row for row, and the same plan: one pass over the CSV
  * (explicit schema from its header, unparsable values in a corrupt-record column), one aggregation for the
  * counts and the train statistics, one projection of column expressions ((x - mean) * (1 / sd), Spark ML's
  * StandardScalerModel arithmetic) for the transform.
  */
object FeatureEngineering {
  val Defaults: Map[String, String] = Map(
    "input" -> "/opt/ml/processing/input/data",
    "output" -> "/opt/ml/processing/output/features",
    "transform-output" -> "/opt/ml/processing/output/transform",
    "train-ratio" -> "0.7",
    "validation-ratio" -> "0.15",
    "seed" -> "42",
    "message-file" -> "/opt/ml/output/message"
  )

  def main(argv: Array[String]): Unit = Io.exit(exec(argv))

  /** The job; its exit code (0, or 1 on bad input with the message file written). */
  def exec(argv: Array[String]): Int = {
    val args = new Args(argv, Defaults)
    val (trainRatio, validationRatio, seed) = (args.double("train-ratio"), args.double("validation-ratio"), args.int("seed"))
    require(trainRatio > 0 && trainRatio <= 1 && validationRatio >= 0 && trainRatio + validationRatio <= 1 + 1e-12,
      s"--train-ratio/--validation-ratio: expected 0 < train <= 1, 0 <= validation, sum <= 1; got $trainRatio, $validationRatio")
    Io.runJob("abalone-feature-engineering", args("message-file")) { spark =>
      Io.checkDestination(args("output"))
      val (features, stats) = engineer(readRaw(spark, args("input")), seed, trainRatio, validationRatio, args("input"))
      Io.log(s"split counts ${stats("counts")} (seed $seed)")
      Io.writeAtomically(features, args("output"), "parquet")
      Io.log(s"features written to ${args("output")}")
      Io.log(s"transform written to ${Io.writeText(args("transform-output"), "preprocessing.json", Io.json(stats) + "\n")}")
    }
  }

  val Values: Seq[String] = Numeric :+ "rings"
  val Corrupt = "_corrupt_record" // Spark puts a CSV line it cannot parse with the schema here

  /** The header of the (first) CSV file, split on commas (the contract's column names hold none). */
  def csvHeader(path: String): Seq[String] = {
    val f = new File(Io.localPath(path))
    val first = if (f.isFile) f else new File(f, Io.dataFiles(path).sorted.head)
    val raw = new FileInputStream(first)
    val in = if (first.getName.endsWith(".gz")) new GZIPInputStream(raw) else raw
    val reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))
    try Option(reader.readLine()).map(_.split(",", -1).toSeq.map(_.trim.stripPrefix("\"").stripSuffix("\""))).getOrElse(Seq.empty)
    finally reader.close()
  }

  /** CSV (header) or Parquet, typed: `sex` string, the rest doubles. CSV is parsed straight into doubles with a
    * schema from its header (enforceSchema off: Spark checks every file's header); a value that does not parse
    * leaves its line in `_corrupt_record`, which `engineer` reports by column.
    */
  def readRaw(spark: SparkSession, path: String): DataFrame = {
    if (!new File(Io.localPath(path)).exists)
      throw new InputDataException(s"--input: $path does not exist (expected a CSV/Parquet file or folder)")
    if (Io.dataFiles(path).isEmpty) throw new InputDataException(s"--input: folder $path holds no data file")
    def missingError(missing: Seq[String]) =
      new InputDataException(s"--input $path: missing column(s) ${missing.mkString("[", ", ", "]")}; expected ${RawColumns.mkString("[", ", ", "]")}")
    if (Io.isParquet(path)) {
      val df = spark.read.parquet(path)
      val missing = RawColumns.filterNot(df.columns.contains)
      if (missing.nonEmpty) throw missingError(missing)
      return df.select((col("sex").cast("string").as("sex") +: Values.map(c => col(c).cast("double").as(c))): _*)
    }
    val header = csvHeader(path)
    val missing = RawColumns.filterNot(header.contains)
    if (missing.nonEmpty) throw missingError(missing)
    val schema = StructType(header.map(c => StructField(c, if (Values.contains(c)) DoubleType else StringType)) :+ StructField(Corrupt, StringType))
    spark.read.schema(schema).option("header", "true").option("enforceSchema", "false")
      .option("columnNameOfCorruptRecord", Corrupt).csv(path).select((RawColumns :+ Corrupt).map(col): _*)
  }

  /** The error for a CSV line Spark could not parse: the column and value, as the other engines say. */
  def unparsable(path: String, line: String): InputDataException = {
    val header = csvHeader(path)
    val fields = line.split(",", -1).toSeq
    if (fields.length != header.length)
      return new InputDataException(s"--input $path: a line has ${fields.length} fields, the header ${header.length}: '${line.take(200)}'")
    header.zip(fields).collectFirst {
      case (c, v) if Values.contains(c) && v.trim.nonEmpty && v.trim.toDoubleOption.isEmpty =>
        new InputDataException(s"--input $path: column '$c' holds '$v'; expected a number")
    }.getOrElse(new InputDataException(s"--input $path: cannot parse the line '${line.take(200)}'"))
  }

  /** q(x) = floor(x * 10000 + 0.5) as long: hashing exact decimals, not binary doubles. */
  def quantise(c: Column): Column = floor(c * lit(10000.0) + lit(0.5)).cast("long")

  /** Spark's xxhash64 (seed 42) of longs only: seed, sex code, quantised measurements, rings. */
  def rowHash(seed: Int): Column = {
    val sexCode = coalesce((SexCodes.map { case (k, v) => when(col("sex") === k, lit(v)) } :+ lit(0)): _*)
    val args = Seq(lit(seed.toLong), sexCode.cast("long")) ++ Numeric.map(c => quantise(col(c))) :+ col("rings").cast("long")
    xxhash64(args: _*)
  }

  /** Bucket bounds out of 10,000, rounding half to even (as Python's and numpy's round). */
  def splitBounds(trainRatio: Double, validationRatio: Double): (Long, Long) =
    (math.rint(trainRatio * 10000).toLong, math.rint((trainRatio + validationRatio) * 10000).toLong)

  def assignSplit(df: DataFrame, seed: Int, trainRatio: Double, validationRatio: Double): DataFrame = {
    val (t, v) = splitBounds(trainRatio, validationRatio)
    val bucket = pmod(col("row_hash"), lit(10000L))
    df.withColumn("row_hash", rowHash(seed))
      .withColumn("split", when(bucket < t, "train").when(bucket < v, "validation").otherwise("test"))
  }

  /** Spark ML StandardScalerModel's arithmetic: (x - mean) * (1 / sd); a zero or undefined sd gives 0.0. */
  def scaled(c: String, mean: Double, sd: Option[Double]): Column = sd.filter(_ != 0.0) match {
    case Some(d) => (col(c) - lit(mean)) * lit(1.0 / d)
    case None    => when(col(c).isNotNull, lit(0.0))
  }

  def engineer(raw: DataFrame, seed: Int, trainRatio: Double, validationRatio: Double, path: String = "--input"): (DataFrame, Map[String, Any]) = {
    val df = assignSplit(raw, seed, trainRatio, validationRatio).cache()
    // one aggregation: counts per split; per numeric column its train count, mean and sample sd (nulls skipped)
    val isTrain = col("split") === "train"
    val aggs = Splits.map(s => count(when(col("split") === s, 1)).as(s"n_$s")) ++
      Numeric.indices.flatMap { i =>
        val v = when(isTrain, col(Numeric(i)))
        Seq(count(v).as(s"fit_$i"), avg(v).as(s"mean_$i"), stddev_samp(v).as(s"sd_$i"))
      } ++ (if (df.columns.contains(Corrupt)) Seq(first(col(Corrupt), ignoreNulls = true).as("corrupt")) else Seq.empty)
    val row = df.agg(aggs.head, aggs.tail: _*).head()
    def opt(name: String): Option[Any] = Option(row.get(row.fieldIndex(name)))
    if (df.columns.contains(Corrupt)) opt("corrupt").foreach(line => throw unparsable(path, line.toString))
    val counts = Splits.map(s => s -> row.getAs[Long](s"n_$s")).toMap
    if (counts("train") == 0L)
      throw new InputDataException(s"--input: no train rows (split counts $counts); expected a non-empty input")
    val fitRows = Numeric.zipWithIndex.map { case (c, i) => c -> row.getAs[Long](s"fit_$i") }.toMap
    val empty = Numeric.filter(c => fitRows(c) == 0L)
    if (empty.nonEmpty)
      throw new InputDataException(s"--input: column(s) ${empty.mkString(", ")} have no value in any train row; cannot fit the scaler")
    val means = Numeric.indices.map(i => opt(s"mean_$i").map(_.asInstanceOf[Double]).getOrElse(Double.NaN))
    val sds = Numeric.indices.map(i => opt(s"sd_$i").map(_.asInstanceOf[Double]).filterNot(_.isNaN))
    val cols = Seq(col("rings").cast("double").as("rings")) ++
      Categories.zip(OneHot).map { case (k, c) => when(col("sex") === k, lit(1.0)).otherwise(lit(0.0)).as(c) } ++
      Numeric.indices.map(i => scaled(Numeric(i), means(i), sds(i)).as(Numeric(i))) ++
      Seq(col("split"), col("row_hash"))
    val features = df.select(cols: _*)
    val (t, v) = splitBounds(trainRatio, validationRatio)
    val stats = Map[String, Any](
      "engine" -> "scala",
      "seed" -> seed,
      "hash" -> "spark xxhash64, seed 42, over (seed, sex_code, q(numerics...), rings) as longs",
      "ratios" -> Map("train" -> trainRatio, "validation" -> validationRatio,
        "test" -> BigDecimal(1 - trainRatio - validationRatio).setScale(10, BigDecimal.RoundingMode.HALF_EVEN).toDouble),
      "thresholds" -> Map("train" -> t, "validation" -> v),
      "label" -> "rings",
      "categories" -> Map("sex" -> Categories),
      "numeric_columns" -> Numeric,
      "means" -> Numeric.zip(means).toMap,
      "stds" -> Numeric.zip(sds.map(_.getOrElse(0.0))).toMap,
      "std_ddof" -> 1,
      "fit_rows" -> fitRows,
      "counts" -> (counts + ("total" -> counts.values.sum)),
      "feature_columns" -> Columns
    )
    (features, stats)
  }
}
